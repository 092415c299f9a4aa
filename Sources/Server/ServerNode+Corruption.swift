import EtcdProto
import Foundation
import Transport

/// etcd's corruption checks (etcdserver/corrupt.go): members compare HashKV at one revision over
/// the peer port's `/members/hashkv`. At start (`--experimental-initial-corrupt-check`) a member
/// with data refuses to start when a peer at its compact revision has another hash; periodically
/// (`--experimental-corrupt-check-time`) the leader raises CORRUPT through raft on a mismatch.
extension ServerNode {
    /// One peer's answer to GET /members/hashkv.
    struct PeerHash: Equatable {
        var revision: Int64
        var hash: UInt32
        var compactRevision: Int64
    }

    enum PeerHashError: Error, Equatable {
        case compacted, futureRevision
        case other(String)
    }

    // MARK: The peer side

    /// etcd's hashKVHandler: a JSON HashKVRequest in, a JSON HashKVResponse out (Go's
    /// encoding/json of the gogo struct: snake_case names, zero fields left out).
    func answerHashKV(requestJSON: [UInt8]) -> PeerAnswer {
        guard let revision = Self.hashKVRequestRevision(requestJSON) else {
            logger.warning("failed to unmarshal request")
            return .error(400, "error unmarshalling request")
        }
        let result: (hash: UInt32, revision: Int64, compactRevision: Int64)
        do {
            result = try storage.hashKV(revision: revision)
        } catch {
            let text = Self.mvccText(error)
            logger.warning("failed to get hashKV", metadata: ["requested-revision": "\(revision)", "error": "\(text)"])
            return .error(400, text)
        }
        var answer = PeerAnswer.json(200, Self.hashKVResponseJSON(PeerHash(revision: result.revision, hash: result.hash,
                                                                           compactRevision: result.compactRevision)))
        answer.headers.insert((PeerHeader.clusterID, Identity.hex(clusterID)), at: 0)
        return answer
    }

    /// `{"revision":N}`; `{}`, `null` and unknown fields as Go's json.Unmarshal takes them.
    static func hashKVRequestRevision(_ body: [UInt8]) -> Int64? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else { return nil }
        if object is NSNull { return 0 }
        guard let dict = object as? [String: Any] else { return nil }
        guard let value = dict["revision"] else { return 0 }
        if value is NSNull { return 0 }
        // Go takes only an integer that fits (5, not 5.5 or "5").
        guard let number = value as? NSNumber, Double(number.int64Value) == number.doubleValue else { return nil }
        let revision = number.int64Value
        return revision
    }

    static func hashKVResponseJSON(_ h: PeerHash) -> [UInt8] {
        var fields = [#""header":{\#(h.revision != 0 ? #""revision":\#(h.revision)"# : "")}"#]
        if h.hash != 0 { fields.append(#""hash":\#(h.hash)"#) }
        if h.compactRevision != 0 { fields.append(#""compact_revision":\#(h.compactRevision)"#) }
        return Array(("{" + fields.joined(separator: ",") + "}").utf8)
    }

    /// mvcc's error texts, which the asking member looks for in a 400 answer.
    static func mvccText(_ error: ServerError) -> String {
        switch error {
        case .compacted: "mvcc: required revision has been compacted"
        case .futureRevision: "mvcc: required revision is a future revision"
        default: "\(error)"
        }
    }

    // MARK: The asking side

    /// etcd's getPeerHashKVHTTP answer handling.
    static func peerHash(_ answer: PeerCalls.Answer) -> Result<PeerHash, PeerHashError> {
        let text = String(decoding: answer.body, as: UTF8.self)
        if answer.status == 400 {
            if text.contains(mvccText(.compacted)) { return .failure(.compacted) }
            if text.contains(mvccText(.futureRevision)) { return .failure(.futureRevision) }
        }
        guard answer.status == 200 else { return .failure(.other("unknown error: \(text)")) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any] else {
            return .failure(.other("invalid HashKVResponse"))
        }
        func int(_ v: Any?) -> Int64? {
            guard let v else { return 0 }
            guard let n = v as? NSNumber else { return nil }
            return n.int64Value
        }
        let header = object["header"] as? [String: Any] ?? [:]
        guard let revision = int(header["revision"]), let hash = int(object["hash"]), let compact = int(object["compact_revision"]),
              let hash32 = UInt32(exactly: hash)
        else { return .failure(.other("invalid HashKVResponse")) }
        return .success(PeerHash(revision: revision, hash: hash32, compactRevision: compact))
    }

    /// Every other member's hash at `revision` (etcd's getPeerHashKVs): each peer URL in turn
    /// until one answers; a peer none of whose URLs answered comes back with the last error.
    func peerHashes(revision: Int64) async -> [(member: Member, result: Result<PeerHash, PeerHashError>)] {
        let body = Array((revision != 0 ? #"{"revision":\#(revision)}"# : "{}").utf8)
        var results: [(Member, Result<PeerHash, PeerHashError>)] = []
        for m in membership.members where m.id != memberID && !m.peerURLs.isEmpty {
            var last = Result<PeerHash, PeerHashError>.failure(.other("no answer"))
            for url in m.peerURLs {
                do {
                    let answer = try await PeerCalls.get(url: url, path: "/members/hashkv", json: body, tls: options.peerTLS, on: raftLoop.next(),
                                                         timeout: options.requestTimeout)
                    last = Self.peerHash(answer)
                } catch {
                    last = .failure(.other("\(error)"))
                }
                if case .success = last { break }
                logger.warning("failed hash kv request", metadata: [
                    "local-member-id": "\(Identity.hex(memberID))", "requested-revision": "\(revision)",
                    "remote-peer-endpoint": "\(url)", "error": "\(last)",
                ])
            }
            results.append((m, last))
        }
        return results
    }
}
