import Foundation
import Logging
import Transport
import XCTest

@testable import Server

/// MemberPromote on a follower: the leader's peer answer for each outcome, and what the follower
/// makes of each answer (etcd's peerMemberPromoteHandler and promoteMemberHTTP).
final class PromoteForwardingTests: XCTestCase {
    func testLeaderAnswersWithEtcdsStatuses() {
        func text(_ a: PeerAnswer) -> String { String(decoding: a.body, as: UTF8.self) }
        var a = ServerNode.promoteAnswer(.memberNotFound)
        XCTAssertEqual(a.status, 404)
        XCTAssertEqual(text(a), "membership: ID not found\n")
        a = ServerNode.promoteAnswer(.memberNotLearner)
        XCTAssertEqual(a.status, 412)
        XCTAssertEqual(text(a), "membership: can only promote a learner member\n")
        a = ServerNode.promoteAnswer(.learnerNotReady)
        XCTAssertEqual(a.status, 412)
        XCTAssertEqual(text(a), "etcdserver: can only promote a learner member which is in sync with leader\n")
        for other in [ServerError.notLeader, .memberNotEnoughStarted, .timeout] {
            a = ServerNode.promoteAnswer(other)
            XCTAssertEqual(a.status, 500)
            XCTAssertEqual(text(a), #"{"message":"Internal Server Error"}"#)
        }
    }

    func testFollowerEndsOnlyOnFinalAnswers() {
        func outcome(_ status: Int, _ body: String) -> ServerNode.PromoteOutcome {
            ServerNode.promoteOutcome(PeerCalls.Answer(status: status, body: Array(body.utf8)))
        }
        // Real etcd's 200 body (json.Encoder of []*membership.Member).
        let etcd = #"[{"id":10276657743932975437,"peerURLs":["http://127.0.0.1:2380"],"name":"a","clientURLs":["http://127.0.0.1:2379"]},"#
            + #"{"id":42,"peerURLs":["http://127.0.0.1:2390"]}]"# + "\n"
        XCTAssertEqual(outcome(200, etcd), .members([
            Member(id: 10276657743932975437, name: "a", peerURLs: ["http://127.0.0.1:2380"], clientURLs: ["http://127.0.0.1:2379"]),
            Member(id: 42, peerURLs: ["http://127.0.0.1:2390"]),
        ]))
        XCTAssertEqual(outcome(404, "membership: ID not found\n"), .failed(.memberNotFound))
        XCTAssertEqual(outcome(412, "membership: can only promote a learner member\n"), .failed(.memberNotLearner))
        XCTAssertEqual(outcome(412, "etcdserver: can only promote a learner member which is in sync with leader\n"),
                       .failed(.learnerNotReady))
        XCTAssertEqual(outcome(412, "something else\n"), .retry)
        XCTAssertEqual(outcome(408, ""), .retry)
        XCTAssertEqual(outcome(500, #"{"message":"Internal Server Error"}"#), .retry)
        XCTAssertEqual(outcome(200, "not json"), .retry)
        XCTAssertEqual(outcome(200, #"[{"peerURLs":[]}]"#), .retry)
        // Every final error survives the round trip through the peer port.
        for e in [ServerError.memberNotFound, .memberNotLearner, .learnerNotReady] {
            let a = ServerNode.promoteAnswer(e)
            XCTAssertEqual(ServerNode.promoteOutcome(PeerCalls.Answer(status: a.status, body: a.body)), .failed(e))
        }
    }

    /// A lone member leads: its peer-side answer for a learner that never started is 412.
    func testLeaderAnswersForALearnerNotInSync() async throws {
        let dir = NSTemporaryDirectory() + "promote-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try LoneMember.start(dir: dir)
        defer { node.stop() }
        try await LoneMember.waitLeader(node)
        let (learner, _) = try await node.addMember(peerURLs: ["http://127.0.0.1:2390"], isLearner: true)
        let answer = await node.answerPromote(id: learner.id)
        XCTAssertEqual(answer.status, 412)
        XCTAssertEqual(String(decoding: answer.body, as: UTF8.self),
                       "etcdserver: can only promote a learner member which is in sync with leader\n")
        let unknown = await node.answerPromote(id: 99)
        XCTAssertEqual(unknown.status, 404)
    }
}
