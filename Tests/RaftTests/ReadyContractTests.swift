import XCTest
@testable import Raft
import RaftTestKit

/// Writes `rd`'s snapshot, entries and hard state to `s` (step 1 of the Ready contract).
private func persist(_ rd: Ready, to s: MemoryStorage) throws {
    if let snap = rd.snapshot { try s.applySnapshot(snap) }
    s.append(rd.entries)
    if let hs = rd.hardState { s.setHardState(hs) }
}

/// The pipelined Ready contract of etcd 3.4's raftNode: a leader sends before its own fsync,
/// committed entries are applied in parallel with persisting (see `Ready`).
final class ReadyContractTests: XCTestCase {
    func testLeaderSendsBeforeItsFsyncButExposesTheCommitOnlyAfterAdvance() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        let leader = c.node(1)
        try leader.propose(bytes("x"))
        let rd = leader.ready()
        let x = try XCTUnwrap(rd.entries.first)
        XCTAssertEqual(x.data, bytes("x"))
        XCTAssertTrue(rd.canSendBeforePersisting, "a leader's appends may leave before its fsync")
        XCTAssertTrue(rd.canApplyBeforePersisting)
        XCTAssertEqual(Set(rd.messages.filter { $0.type == .app }.map(\.to)), [2, 3])
        XCTAssertTrue(rd.messages.allSatisfy { $0.commit < x.index }, "no commit index covers the unpersisted entry")

        // The followers persist and acknowledge while the leader's write is still in progress.
        for m in rd.messages { try c.node(m.to).step(m) }
        for id: UInt64 in [2, 3] {
            for m in c.drain(id) { try leader.step(m) }
        }
        XCTAssertEqual(leader.committed, x.index, "the leader counted its own unpersisted entry")
        XCTAssertFalse(c.data(2).contains(bytes("x")))
        XCTAssertLessThan(c.storages[2]!.hardState.commit, x.index, "no follower learned the commit yet")

        // Only once the write is durable and acknowledged does the commit go out.
        try persist(rd, to: c.storages[1]!)
        leader.advance(rd)
        let rd2 = leader.ready()
        XCTAssertEqual(rd2.committedEntries.map(\.data), [bytes("x")])
        XCTAssertEqual(rd2.hardState?.commit, x.index)
        XCTAssertTrue(rd2.canApplyBeforePersisting, "x was persisted by the previous Ready")
        try persist(rd2, to: c.storages[1]!)
        leader.advance(rd2)
    }

    func testLeaderCrashBeforeItsFsyncLosesNothingCommitted() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.propose(1, bytes("a"))
        let leader = c.node(1)
        try leader.propose(bytes("x"))
        let rd = leader.ready()
        XCTAssertTrue(rd.canSendBeforePersisting)
        for m in rd.messages { try c.node(m.to).step(m) }
        for id: UInt64 in [2, 3] {
            for m in c.drain(id) { try leader.step(m) }
        }
        // The leader crashes before its write completes: x is gone from its log.
        try c.restart(1)
        XCTAssertNotEqual(c.log(1).last?.data, bytes("x"))
        for id: UInt64 in [1, 2, 3] {
            XCTAssertFalse(c.data(id).contains(bytes("x")), "nobody applied x")
        }
        // x was never committed as far as anybody could see; the followers that persisted it
        // elect a leader that keeps it, and every member then applies the same history.
        c.elect(2)
        c.propose(2, bytes("y"))
        for id: UInt64 in [1, 2, 3] {
            XCTAssertEqual(c.data(id), [bytes("a"), bytes("x"), bytes("y")], "node \(id)")
        }
    }

    func testFollowerAndCandidateMustPersistBeforeSending() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        try c.node(1).propose(bytes("x"))
        let apps = c.drain(1).filter { $0.to == 2 }
        for m in apps { try c.node(2).step(m) }
        let rd = c.node(2).ready()
        XCTAssertFalse(rd.entries.isEmpty)
        XCTAssertEqual(rd.messages.map(\.type), [.appResp])
        XCTAssertFalse(rd.canSendBeforePersisting, "an acknowledgement vouches for a durable entry")
        try persist(rd, to: c.storages[2]!)
        c.node(2).advance(rd)

        let n = try RawNode(config: RaftConfig(id: 1), storage: storage(voters: [1, 2, 3]))
        try n.campaign()
        let vote = n.ready()
        XCTAssertEqual(vote.messages.map(\.type), [.vote, .vote])
        XCTAssertFalse(vote.canSendBeforePersisting, "a vote request vouches for a durable term and vote")
    }

    func testFollowerLearningCommitWithTheEntriesMustPersistBeforeApplying() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.isolate(3)
        c.propose(1, bytes("x"))
        c.recover()
        // Back to probing 3: the next append carries x together with a commit index covering it.
        c.node(1).reportUnreachable(3)
        c.node(1).tick()
        var found: Ready?
        for _ in 0..<10 where found == nil {
            for m in c.drain(1) where m.to == 3 { try c.node(3).step(m) }
            let rd = c.node(3).ready()
            if rd.committedEntries.contains(where: { $0.data == bytes("x") }) {
                found = rd
                break
            }
            try persist(rd, to: c.storages[3]!)
            c.node(3).advance(rd)
            for m in rd.messages { try c.node(1).step(m) }
        }
        let rd = try XCTUnwrap(found)
        XCTAssertTrue(rd.entries.contains { $0.data == bytes("x") })
        XCTAssertFalse(rd.canApplyBeforePersisting, "x is committed but not yet in this node's storage")
        XCTAssertFalse(rd.canSendBeforePersisting)
    }

    func testSingleVoterMustPersistBeforeSendingOrApplying() throws {
        let s = storage(voters: [1], learners: [2])
        let n = try RawNode(config: RaftConfig(id: 1), storage: s)
        try n.campaign()
        XCTAssertTrue(n.isLeader)
        let rd = n.ready()
        XCTAssertEqual(rd.hardState?.term, 1)
        XCTAssertFalse(rd.canSendBeforePersisting, "the new term and vote are not durable yet")
        XCTAssertFalse(rd.canApplyBeforePersisting, "the empty entry is committed as soon as appended")
        try persist(rd, to: s)
        n.advance(rd)

        try n.propose(bytes("x"))
        let rd2 = n.ready()
        XCTAssertEqual(rd2.entries.map(\.data), [bytes("x")])
        XCTAssertEqual(rd2.committedEntries.map(\.data), [bytes("x")], "a single voter commits what it appends")
        XCTAssertTrue(rd2.messages.contains { $0.type == .app && $0.to == 2 && $0.commit >= rd2.entries[0].index })
        XCTAssertFalse(rd2.canSendBeforePersisting, "the learner would learn a commit the leader could lose")
        XCTAssertFalse(rd2.canApplyBeforePersisting, "a client could be answered for a write a crash loses")
        XCTAssertTrue(rd2.mustSync)
    }

    func testSnapshotReadyMustPersistBeforeApplying() throws {
        let voters: [UInt64] = [1, 2]
        let leaderStore = storage(voters: voters, terms: [1, 1, 1, 1, 1], hardState: HardState(term: 1, commit: 5))
        try leaderStore.createSnapshot(5, confState: ConfState(voters: voters), data: [1])
        try leaderStore.compact(5)
        let followerStore = storage(voters: voters)
        let c = try TestCluster(ids: voters, storages: [1: leaderStore, 2: followerStore])
        c.ignore(.snap)
        c.elect(1)
        let snap = try XCTUnwrap(c.dropped.last { $0.type == .snap })
        let follower = c.node(2)
        XCTAssertFalse(follower.hasPendingSnapshot)
        try follower.step(snap)
        XCTAssertTrue(follower.hasPendingSnapshot)
        let rd = follower.ready()
        XCTAssertEqual(rd.snapshot?.metadata.index, 5)
        XCTAssertFalse(rd.canApplyBeforePersisting)
        XCTAssertTrue(follower.hasPendingSnapshot, "pending until the Ready is acknowledged")
        try persist(rd, to: followerStore)
        follower.advance(rd)
        XCTAssertFalse(follower.hasPendingSnapshot)
    }

    func testApplyOnAnotherThreadThenAdvanceHandsOutEachEntryOnce() throws {
        // Handing committed entries to an applier, advancing before it finishes: raft's `applied`
        // is the hand-out cursor, so nothing is handed out twice.
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        let leader = c.node(1)
        var handedOut: [UInt64] = []
        for i in 0..<5 {
            try leader.propose([UInt8(i)])
            for _ in 0..<4 {
                guard leader.hasReady() else { break }
                let rd = leader.ready()
                if rd.canApplyBeforePersisting { handedOut += rd.committedEntries.map(\.index) }
                try persist(rd, to: c.storages[1]!)
                if !rd.canApplyBeforePersisting { handedOut += rd.committedEntries.map(\.index) }
                leader.advance(rd)
                for m in rd.messages { try c.node(m.to).step(m) }
                for id: UInt64 in [2, 3] { for m in c.drain(id) { try leader.step(m) } }
            }
        }
        XCTAssertEqual(handedOut, Array(Set(handedOut)).sorted(), "in order, each once")
        XCTAssertEqual(handedOut.last, leader.committed)
        XCTAssertEqual(leader.applied, leader.committed)
    }

    // MARK: restart after the state machine ran ahead

    func testRestartWithAppliedAboveThePersistedCommitIsClamped() throws {
        let s = storage(voters: [1, 2, 3], terms: [1, 1, 1, 1, 1], hardState: HardState(term: 1, commit: 3))
        var cfg = RaftConfig(id: 1)
        cfg.applied = 5 // the state machine applied 4 and 5; the hard state saying so was lost
        let n = try RawNode(config: cfg, storage: s)
        XCTAssertEqual(n.applied, 3)
        XCTAssertEqual(n.committed, 3)
        XCTAssertFalse(n.hasReady())
    }

    func testRestartWithSnapshotAboveThePersistedCommit() throws {
        let s = storage(voters: [1, 2, 3], terms: [1, 1, 1, 1, 1], hardState: HardState(term: 1, commit: 2))
        try s.createSnapshot(4, confState: nil, data: [])
        try s.compact(4)
        let n = try RawNode(config: RaftConfig(id: 1), storage: s)
        XCTAssertEqual(n.committed, 4, "a snapshot holds only committed entries")
        XCTAssertEqual(n.applied, 4)
    }

    // MARK: conveniences

    func testLeadRaftStateAndCommittedEntryInCurrentTerm() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.ignore(.appResp)
        c.campaign(1)
        let n = c.node(1)
        XCTAssertEqual(n.raftState, .leader)
        XCTAssertEqual(n.lead, 1)
        XCTAssertFalse(n.hasCommittedEntryInCurrentTerm, "the empty entry of term 1 is not committed yet")
        n.readIndex(context: bytes("r1"))
        c.flush()
        XCTAssertEqual(c.readStates[1] ?? [], [], "ReadIndex is refused until then")
        c.recover()
        c.tick(1)
        XCTAssertTrue(n.hasCommittedEntryInCurrentTerm)
        XCTAssertEqual(c.node(2).raftState, .follower)
        XCTAssertEqual(c.node(2).lead, 1)
        n.readIndex(context: bytes("r2"))
        c.flush()
        XCTAssertEqual(c.readStates[1]?.map(\.requestCtx), [bytes("r2")])
    }
}
