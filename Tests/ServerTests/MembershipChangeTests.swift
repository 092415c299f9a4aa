import EtcdProto
import Foundation
import Logging
import XCTest

@testable import Server

/// Membership changes through raft on a lone member: etcd's checks before proposing and again
/// when applied, and what a restart keeps.
final class MembershipChangeTests: XCTestCase {
    private var dir = ""

    override func setUp() { dir = NSTemporaryDirectory() + "membership-\(UUID().uuidString)" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func makeNode() throws -> ServerNode { try LoneMember.start(dir: dir) }

    private func waitLeader(_ node: ServerNode) async throws {
        let leads = try await LoneMember.waitLeader(node)
        XCTAssertTrue(leads)
    }

    func testChangesAreCheckedAsEtcdChecksThem() async throws {
        let node = try makeNode()
        defer { node.stop() }
        try await waitLeader(node)
        let (learner, members) = try await node.addMember(peerURLs: ["http://127.0.0.1:2390"], isLearner: true)
        XCTAssertTrue(learner.isLearner)
        XCTAssertEqual(members.count, 2)
        XCTAssertEqual(members.first { $0.id == learner.id }?.isLearner, true)

        await expectError(.tooManyLearners) { () throws(ServerError) in _ = try await node.addMember(peerURLs: ["http://127.0.0.1:2391"], isLearner: true) }
        await expectError(.peerURLExists) { () throws(ServerError) in
            _ = try await node.updateMember(id: learner.id, peerURLs: ["http://127.0.0.1:2380"])
        }
        await expectError(.memberNotFound) { () throws(ServerError) in _ = try await node.removeMember(id: 42) }
        await expectError(.memberNotFound) { () throws(ServerError) in _ = try await node.updateMember(id: 42, peerURLs: ["http://127.0.0.1:2399"]) }
        // The learner never started: its log is far behind the leader's.
        await expectError(.learnerNotReady) { () throws(ServerError) in _ = try await node.promoteMember(id: learner.id) }
        // The leader is in sync with itself, but is no learner.
        await expectError(.memberNotLearner) { () throws(ServerError) in _ = try await node.promoteMember(id: node.memberID) }
        await expectError(.badLeaderTransferee) { () throws(ServerError) in try await node.moveLeader(to: learner.id) }

        let updated = try await node.updateMember(id: learner.id, peerURLs: ["http://127.0.0.1:2392"])
        XCTAssertEqual(updated.first { $0.id == learner.id }?.peerURLs, ["http://127.0.0.1:2392"])
        let after = try await node.removeMember(id: learner.id)
        XCTAssertEqual(after.map(\.id), [node.memberID])
        // A removed id never comes back.
        await expectError(.memberNotFound) { () throws(ServerError) in _ = try await node.removeMember(id: learner.id) }
    }

    func testRestartKeepsAppliedChangesAndTheirEffectOnRaft() async throws {
        var node: ServerNode? = try makeNode()
        try await waitLeader(node!)
        let (learner, _) = try await node!.addMember(peerURLs: ["http://127.0.0.1:2390"], isLearner: true)
        node!.stop()
        node = nil

        let reopened = try makeNode()
        defer { reopened.stop() }
        try await waitLeader(reopened)
        XCTAssertEqual(reopened.memberList().members.map(\.id).sorted(), [reopened.memberID, learner.id].sorted())
        // Raft took the replayed change again: the learner is still tracked (and not a voter,
        // or this lone member could not commit the put below).
        let progress = await reopened.driver.progress()
        XCTAssertEqual(progress?[learner.id]?.isLearner, true)
        var put = Etcdserverpb_PutRequest()
        put.key = Array("k".utf8)
        _ = try await reopened.put(put)
    }

    private func expectError(_ expected: ServerError, _ body: () async throws(ServerError) -> Void,
                             file: StaticString = #filePath, line: UInt = #line) async {
        do throws(ServerError) {
            try await body()
            XCTFail("expected \(expected), got success", file: file, line: line)
        } catch {
            XCTAssertEqual(error, expected, file: file, line: line)
        }
    }
}
