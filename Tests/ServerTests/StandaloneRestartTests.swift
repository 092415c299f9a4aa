import EtcdProto
import Foundation
import Logging
import Raft
import XCTest

@testable import Server

/// `--force-new-cluster`'s rewrite of a recovered log, as etcd's restartAsStandaloneNode does it.
final class StandaloneRestartTests: XCTestCase {
    private func change(_ type: Raftpb_ConfChangeType, _ id: UInt64) -> [UInt8] {
        var cc = Raftpb_ConfChange()
        cc.type = type
        cc.nodeID = id
        return cc.serializedBytes()
    }

    private func decoded(_ e: Entry) throws -> (Raftpb_ConfChangeType?, UInt64?) {
        XCTAssertEqual(e.type, .confChange)
        let cc = try Raftpb_ConfChange(serializedBytes: e.data)
        return (cc.type, cc.nodeID)
    }

    /// A bootstrapped three-member log: three AddNode entries, then normal ones.
    private func bootstrapLog(through last: UInt64, term: UInt64 = 2) -> [Entry] {
        var log = [1, 2, 3].map { Entry(term: 1, index: $0, type: .confChange, data: change(.confChangeAddNode, 0xA0 + $0)) }
        for i in 4...last { log.append(Entry(term: term, index: i, data: [UInt8(i)])) }
        return log
    }

    func testRemovesEveryOtherMemberAfterTheCommittedEntries() throws {
        let log = bootstrapLog(through: 9)
        let r = StandaloneRestart(selfID: 0xA2, voters: [], entries: log, hardState: HardState(term: 2, vote: 0xA1, commit: 7))
        XCTAssertEqual(r.discarded, 2, "entries 8 and 9 were never committed")
        XCTAssertEqual(r.appended.map(\.index), [8, 9])
        XCTAssertEqual(r.appended.map(\.term), [2, 2])
        XCTAssertEqual(try r.appended.map { try decoded($0).1 }, [0xA1, 0xA3])
        XCTAssertEqual(try r.appended.map { try decoded($0).0 }, [.confChangeRemoveNode, .confChangeRemoveNode])
        XCTAssertEqual(r.entries.map(\.index), Array(1...9))
        XCTAssertEqual(Array(r.entries.prefix(7)), Array(log.prefix(7)))
        XCTAssertEqual(r.hardState, HardState(term: 2, vote: 0xA1, commit: 9))
    }

    func testMembersFollowTheSnapshotAndTheChangesAfterIt() throws {
        // After a snapshot of voters A1..A3: A3 removed, A4 added as a learner.
        let log = [Entry(term: 3, index: 11, type: .confChange, data: change(.confChangeRemoveNode, 0xA3)),
                   Entry(term: 3, index: 12, type: .confChange, data: change(.confChangeAddLearnerNode, 0xA4)),
                   Entry(term: 3, index: 13, data: [1])]
        XCTAssertEqual(StandaloneRestart.members(voters: [0xA1, 0xA2, 0xA3], entries: log), [0xA1, 0xA2, 0xA4])
        let r = StandaloneRestart(selfID: 0xA1, voters: [0xA1, 0xA2, 0xA3], entries: log, hardState: HardState(term: 3, commit: 13))
        XCTAssertEqual(r.discarded, 0)
        XCTAssertEqual(try r.appended.map { try decoded($0).1 }, [0xA2, 0xA4])
        XCTAssertEqual(r.appended.map(\.index), [14, 15])
        XCTAssertEqual(r.hardState.commit, 15)
    }

    func testAMemberMissingFromItsOwnLogAddsItselfFirst() throws {
        let r = StandaloneRestart(selfID: 0xB1, voters: [0xA1], entries: [], hardState: HardState(term: 4, commit: 20))
        XCTAssertEqual(r.appended.map(\.index), [21, 22])
        let add = try Raftpb_ConfChange(serializedBytes: r.appended[0].data)
        XCTAssertEqual(add.type, .confChangeAddNode)
        XCTAssertEqual(add.nodeID, 0xB1)
        XCTAssertEqual(add.context.map { String(decoding: $0, as: UTF8.self) }, "{\"id\":177,\"peerURLs\":[\"http://localhost:2380\"]}")
        XCTAssertEqual(try decoded(r.appended[1]).0, .confChangeRemoveNode)
        XCTAssertEqual(try decoded(r.appended[1]).1, 0xA1)
    }

    func testALoneMemberGetsNoChanges() {
        let log = [Entry(term: 1, index: 1, type: .confChange, data: change(.confChangeAddNode, 7)), Entry(term: 2, index: 2, data: [])]
        let r = StandaloneRestart(selfID: 7, voters: [], entries: log, hardState: HardState(term: 2, vote: 7, commit: 2))
        XCTAssertEqual(r.appended, [])
        XCTAssertEqual(r.entries, log)
        XCTAssertEqual(r.hardState.commit, 2)
    }

    /// A member of three whose peers never came (no quorum, no leader) restarts with
    /// --force-new-cluster: alone, it leads and takes writes; a later restart without the flag
    /// keeps it so.
    func testAMemberWithoutItsPeersRestartsAlone() async throws {
        let dir = NSTemporaryDirectory() + "standalone-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = LoneMember.options(dir: dir)
        options.initialCluster = [("t", ["http://127.0.0.1:2380"]), ("u", ["http://127.0.0.1:2381"]), ("v", ["http://127.0.0.1:2382"])]
        var node = try ServerNode(options: options, logger: Logger(label: "test"))
        node.start()
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertFalse(node.isLeader)
        XCTAssertEqual(node.memberList().members.count, 3)
        node.stop()

        for force in [true, false] {
            options.forceNewCluster = force
            node = try ServerNode(options: options, logger: Logger(label: "test"))
            node.start()
            let leads = try await LoneMember.waitLeader(node)
            XCTAssertTrue(leads, "force: \(force)")
            XCTAssertEqual(node.memberList().members.map(\.id), [node.memberID])
            var put = Etcdserverpb_PutRequest()
            put.key = Array("k\(force)".utf8)
            put.value = [1]
            _ = try await node.put(put)
            node.stop()
        }
    }
}
