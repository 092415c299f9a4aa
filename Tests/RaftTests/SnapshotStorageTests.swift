import XCTest
@testable import Raft
import RaftTestKit

/// A storage whose snapshot can be made temporarily unavailable, as when the application is
/// still producing it.
final class FlakySnapshotStorage: RaftStorage {
    let inner: MemoryStorage
    var snapshotReady = false

    init(_ inner: MemoryStorage) { self.inner = inner }

    func initialState() throws(RaftStorageError) -> (HardState, ConfState) { try inner.initialState() }
    func entries(_ lo: UInt64, _ hi: UInt64, maxSize: Int) throws(RaftStorageError) -> [Entry] {
        try inner.entries(lo, hi, maxSize: maxSize)
    }
    func term(_ i: UInt64) throws(RaftStorageError) -> UInt64 { try inner.term(i) }
    func firstIndex() throws(RaftStorageError) -> UInt64 { try inner.firstIndex() }
    func lastIndex() throws(RaftStorageError) -> UInt64 { try inner.lastIndex() }
    func snapshot() throws(RaftStorageError) -> Snapshot {
        if !snapshotReady { throw .snapshotTemporarilyUnavailable }
        return try inner.snapshot()
    }
}

final class SnapshotStorageTests: XCTestCase {
    func testLeaderWaitsWhileSnapshotIsTemporarilyUnavailable() throws {
        let voters: [UInt64] = [1, 2]
        let leaderStore = storage(voters: voters, terms: [1, 1, 1, 1, 1], hardState: HardState(term: 1, commit: 5))
        try leaderStore.createSnapshot(5, confState: ConfState(voters: voters), data: [1])
        try leaderStore.compact(5)
        let flaky = FlakySnapshotStorage(leaderStore)
        let leader = try RawNode(config: RaftConfig(id: 1), storage: flaky)
        let follower = try RawNode(config: RaftConfig(id: 2), storage: storage(voters: voters))
        try leader.campaign()
        var out = leader.takeMessages(persistingTo: leaderStore)
        try follower.step(out[0])
        for m in follower.takeMessages() { try leader.step(m) }
        XCTAssertTrue(leader.isLeader)
        // The follower answers a heartbeat so it counts as recently active.
        for _ in 0..<3 {
            out = leader.takeMessages(persistingTo: leaderStore)
            XCTAssertFalse(out.contains { $0.type == .snap }, "no snapshot while it is unavailable")
            for m in out where m.to == 2 { try follower.step(m) }
            for m in follower.takeMessages() { try leader.step(m) }
            leader.tick()
        }
        flaky.snapshotReady = true
        leader.tick()
        out = leader.takeMessages(persistingTo: leaderStore)
        for m in out where m.to == 2 { try follower.step(m) }
        for m in follower.takeMessages() { try leader.step(m) }
        out = leader.takeMessages(persistingTo: leaderStore)
        XCTAssertTrue(out.contains { $0.type == .snap && $0.snapshot?.metadata.index == 5 })
    }

    func testUnreachableFollowerDropsBackToProbing() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.propose(1, bytes("x"))
        XCTAssertEqual(c.node(1).status.progress[2]?.state, .replicate)
        c.node(1).reportUnreachable(2)
        XCTAssertEqual(c.node(1).status.progress[2]?.state, .probe)
    }

    func testStepRefusesLocalMessagesAndResponsesFromStrangers() throws {
        let n = try RawNode(config: RaftConfig(id: 1), storage: storage(voters: [1, 2, 3]))
        XCTAssertThrowsError(try n.step(Message(type: .hup, from: 1))) { XCTAssertEqual($0 as? RaftError, .stepLocalMessage) }
        XCTAssertThrowsError(try n.step(Message(type: .appResp, to: 1, from: 9, term: 1))) {
            XCTAssertEqual($0 as? RaftError, .stepPeerNotFound)
        }
    }
}
