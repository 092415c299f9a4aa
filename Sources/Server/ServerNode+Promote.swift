import Foundation
import Transport

/// MemberPromote through any member, as etcd's PromoteMember: a follower cannot tell whether the
/// learner is in sync, so it posts the request to the leader's peer port (`POST
/// /members/promote/<decimal id>`) until an answer is final or the request times out.
extension ServerNode {
    public func promoteMember(id: UInt64) async throws(ServerError) -> [Member] {
        try await checkAdmin()
        do {
            return try await promoteAsLeader(id: id)
        } catch {
            if error != .notLeader { throw error }
        }
        let path = PeerRoute.promotePrefix + String(id)
        let deadline = ContinuousClock.now + options.requestTimeout
        while ContinuousClock.now < deadline {
            let lead = leader
            if lead == memberID {
                do {
                    return try await promoteAsLeader(id: id)
                } catch {
                    if error != .notLeader { throw error }
                }
            } else if lead != 0, let urls = membership.member(lead)?.peerURLs {
                for url in urls {
                    let left = deadline - .now
                    if left <= .zero { break }
                    guard let answer = try? await PeerCalls.post(url: url, path: path, tls: options.peerTLS, on: raftLoop.next(), timeout: left) else {
                        continue
                    }
                    switch Self.promoteOutcome(answer) {
                    case .members(let members): return members
                    case .failed(let error): throw error
                    case .retry: continue
                    }
                }
            }
            // etcd's waitLeader: a leader may be elected, or the one we asked may have changed.
            try? await Task.sleep(for: .milliseconds(50))
        }
        throw .timeout
    }

    /// What the follower makes of the leader's answer (etcd's promoteMemberHTTP, and its caller's
    /// rule that only "not found", "not learner" and "not ready" end the retries).
    enum PromoteOutcome: Equatable {
        case members([Member])
        case failed(ServerError)
        case retry
    }

    static func promoteOutcome(_ answer: PeerCalls.Answer) -> PromoteOutcome {
        let text = String(decoding: answer.body, as: UTF8.self)
        switch answer.status {
        case 200:
            return Member.list(json: answer.body).map { .members($0) } ?? .retry
        case 404:
            return .failed(.memberNotFound)
        case 412:
            // The not-ready text contains the not-learner text: test it first.
            if text.contains(PromoteText.learnerNotReady) { return .failed(.learnerNotReady) }
            if text.contains(PromoteText.notLearner) { return .failed(.memberNotLearner) }
            return .retry
        default:
            // 408 (etcd's ErrTimeout), 500 (leadership moved) and the rest are retried.
            return .retry
        }
    }

    /// The leader's side of `/members/promote/<id>` (etcd's peerMemberPromoteHandler). The
    /// follower that forwards it checked the caller's permission already.
    func answerPromote(id: UInt64) async -> PeerAnswer {
        let answer: PeerAnswer
        do {
            let members = try await promoteAsLeader(id: id)
            return .json(200, Array(("[" + members.map(\.json).joined(separator: ",") + "]\n").utf8))
        } catch {
            answer = Self.promoteAnswer(error)
            logger.warning("failed to promote a member", metadata: [
                "member-id": "\(Identity.hex(id))", "error": "\(error)",
            ])
        }
        return answer
    }

    /// etcd's status for each error: the membership texts for 404 and 412, and etcdhttp's
    /// WriteError (500, a JSON message) for anything else, "not leader" included.
    static func promoteAnswer(_ error: ServerError) -> PeerAnswer {
        switch error {
        case .memberNotFound: .error(404, PromoteText.idNotFound)
        case .memberNotLearner: .error(412, PromoteText.notLearner)
        case .learnerNotReady: .error(412, PromoteText.learnerNotReady)
        default: .json(500, Array(#"{"message":"Internal Server Error"}"#.utf8))
        }
    }

    /// etcd's error texts on the peer port (membership.ErrIDNotFound, ErrMemberNotLearner,
    /// etcdserver.ErrLearnerNotReady).
    enum PromoteText {
        static let idNotFound = "membership: ID not found"
        static let notLearner = "membership: can only promote a learner member"
        static let learnerNotReady = "etcdserver: can only promote a learner member which is in sync with leader"
    }
}

extension Member {
    /// A JSON array of etcd members (GET /members, a promote answer); nil unless it is one.
    static func list(json bytes: [UInt8]) -> [Member]? {
        guard let array = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [Any] else { return nil }
        var members: [Member] = []
        for item in array {
            guard let data = try? JSONSerialization.data(withJSONObject: item), let m = Member(json: Array(data)) else { return nil }
            members.append(m)
        }
        return members
    }
}
