import XCTest
@testable import Raft
import RaftTestKit

/// Single membership changes, learners, snapshots of lagging followers.
final class MembershipTests: XCTestCase {
    private func applyConfChange(_ c: TestCluster, _ cc: ConfChange, at leader: UInt64 = 1) throws {
        try c.node(leader).proposeConfChange(cc)
        c.flush()
    }

    func testLearnerNeverCampaignsEvenAfterManyTimeouts() throws {
        let s = storage(voters: [1, 2, 3], learners: [4])
        let n = try RawNode(config: RaftConfig(id: 4), storage: s)
        for _ in 0..<100 { n.tick() }
        XCTAssertEqual(n.state, .follower)
        XCTAssertEqual(n.term, 0)
        XCTAssertTrue(n.takeMessages().isEmpty, "a learner sends no vote requests")
    }

    func testLearnerVoteIsNeitherRequestedNorCounted() throws {
        let voters: [UInt64] = [1, 2]
        let stores = [1, 2, 3].reduce(into: [UInt64: MemoryStorage]()) { $0[$1] = storage(voters: voters, learners: [3]) }
        let c = try TestCluster(ids: [1, 2, 3], storages: stores)
        c.cut(1, 2)
        var votesTo3 = 0
        c.filter = { m in
            if m.type == .vote && m.to == 3 { votesTo3 += 1 }
            return true
        }
        c.campaign(1)
        XCTAssertEqual(votesTo3, 0)
        XCTAssertNotEqual(c.node(1).state, .leader, "with 2 voters, 1 needs 2's vote; the learner cannot give it")
        // The candidate ignores a grant from a learner.
        try c.node(1).step(Message(type: .voteResp, to: 1, from: 3, term: c.node(1).term))
        XCTAssertNotEqual(c.node(1).state, .leader)
        c.recover()
        c.elect(1)
    }

    func testAddLearnerReplicatesThenPromoteMakesItAVoter() throws {
        let stores = [1, 2, 3].reduce(into: [UInt64: MemoryStorage]()) { $0[$1] = bootstrapStorage(voters: [1, 2, 3]) }
        let c = try TestCluster(ids: [1, 2, 3], storages: stores)
        c.elect(1)
        c.propose(1, bytes("before"))
        try c.add(4, storage: MemoryStorage())
        try applyConfChange(c, ConfChange(type: .addLearnerNode, nodeID: 4))
        XCTAssertEqual(c.node(1).status.confState.learners, [4])
        XCTAssertEqual(c.node(1).status.progress[4]?.isLearner, true)
        c.propose(1, bytes("after"))
        c.tick(1) // the new learner answers a heartbeat, then gets the snapshot of the membership
        c.node(1).reportSnapshot(4, status: .finish)
        c.tick(1)
        XCTAssertEqual(c.node(4).status.confState.learners, [4])
        XCTAssertEqual(c.data(4), [bytes("before"), bytes("after")], "a learner receives the log after the snapshot")
        try applyConfChange(c, ConfChange(type: .addNode, nodeID: 4))
        XCTAssertEqual(c.node(1).status.confState.voters, [1, 2, 3, 4])
        XCTAssertEqual(c.node(4).status.confState.voters, [1, 2, 3, 4], "4 applied its own promotion")
        // Now 4 counts: with 2 and 3 gone, 1 and 4 are not a quorum of 4; with 3 gone they are 3 of 4.
        c.isolate(3)
        c.propose(1, bytes("three of four"))
        XCTAssertEqual(c.data(4).last, bytes("three of four"))
        c.isolate(2)
        let committed = c.node(1).committed
        c.propose(1, bytes("two of four"))
        XCTAssertEqual(c.node(1).committed, committed, "two of four voters are no quorum")
    }

    func testRemovingAVoterShrinksTheQuorum() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        try applyConfChange(c, ConfChange(type: .removeNode, nodeID: 3))
        XCTAssertEqual(c.node(1).status.confState.voters, [1, 2])
        c.isolate(3)
        c.propose(1, bytes("x"))
        XCTAssertEqual(c.data(2), [bytes("x")])
    }

    func testRemovalLetsPendingEntriesCommitWithTheSmallerQuorum() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        try applyConfChange(c, ConfChange(type: .removeNode, nodeID: 3))
        XCTAssertEqual(c.node(1).status.progress[3] == nil, true)
    }

    func testOnlyOneMembershipChangeMayBePending() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.ignore(.app) // nothing commits, so the first change stays pending
        try c.node(1).proposeConfChange(ConfChange(type: .addLearnerNode, nodeID: 4))
        try c.node(1).proposeConfChange(ConfChange(type: .addLearnerNode, nodeID: 5))
        c.flush()
        let types = c.log(1).filter { $0.index > 1 }.map(\.type)
        XCTAssertEqual(types, [.confChange, .normal], "the second change is replaced by an empty entry")
        c.recover()
        c.tick(1)
        XCTAssertEqual(c.node(1).status.confState.learners, [4])
        try c.node(1).proposeConfChange(ConfChange(type: .addLearnerNode, nodeID: 5))
        c.flush()
        XCTAssertEqual(c.node(1).status.confState.learners, [4, 5], "once applied, the next one is accepted")
    }

    func testLaggingFollowerCatchesUpThroughSnapshot() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.isolate(3)
        for i in 0..<20 { c.propose(1, [UInt8(i)]) }
        let s1 = c.storages[1]!
        let applied = c.node(1).status.applied
        try s1.createSnapshot(applied, confState: ConfState(voters: [1, 2, 3]), data: bytes("state"))
        try s1.compact(applied)
        c.recover()
        var snaps = 0
        c.filter = { m in
            if m.type == .snap { snaps += 1 }
            return true
        }
        c.tick(1) // heartbeat: 3 answers, becomes recently active, and gets the snapshot
        c.node(1).reportSnapshot(3, status: .finish)
        c.tick(1)
        XCTAssertEqual(snaps, 1)
        let s3 = c.storages[3]!
        XCTAssertEqual(try s3.snapshot().metadata.index, applied)
        XCTAssertEqual(try s3.snapshot().data, bytes("state"))
        c.propose(1, bytes("after"))
        XCTAssertEqual(c.log(3).last?.data, bytes("after"))
        XCTAssertEqual(c.node(3).committed, c.node(1).committed)
        XCTAssertEqual(c.node(1).status.progress[3]?.state, .replicate)
    }

    func testFailedSnapshotReturnsFollowerToProbing() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.isolate(3)
        for i in 0..<5 { c.propose(1, [UInt8(i)]) }
        let s1 = c.storages[1]!
        let applied = c.node(1).status.applied
        try s1.createSnapshot(applied, confState: ConfState(voters: [1, 2, 3]), data: [])
        try s1.compact(applied)
        c.recover()
        c.ignore(.snap)
        c.tick(1)
        XCTAssertEqual(c.node(1).status.progress[3]?.state, .snapshot)
        c.node(1).reportSnapshot(3, status: .failure)
        XCTAssertEqual(c.node(1).status.progress[3]?.state, .probe)
        c.recover()
        c.tick(1)
        c.node(1).reportSnapshot(3, status: .finish)
        c.tick(1)
        XCTAssertEqual(try c.storages[3]!.snapshot().metadata.index, applied, "the snapshot is retried")
    }

    func testHarnessConfChangeEncodingRoundTrips() {
        for cc in [ConfChange(id: 7, type: .addNode, nodeID: 3), ConfChange(id: 0, type: .removeNode, nodeID: 1 << 40),
                   ConfChange(id: 300, type: .addLearnerNode, nodeID: 9, context: bytes("peer-url"))] {
            XCTAssertEqual(ConfChangeCodec.decode(ConfChangeCodec.encode(cc)), cc)
        }
        XCTAssertNil(ConfChangeCodec.decode([9]))
    }

    func testConfChangeDataIsOpaqueToRaft() throws {
        // Bytes no decoder understands: raft must store, replicate and commit them untouched, and
        // change the membership only when the application calls applyConfChange.
        let opaque: [UInt8] = [0x08, 0x00, 0x10, 0x03, 0x18, 0x04, 0xff]
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        try c.node(1).proposeConfChange(data: opaque)
        c.flush()
        for id: UInt64 in [1, 2, 3] {
            let e = try XCTUnwrap(c.applied[id]?.last)
            XCTAssertEqual(e.type, .confChange)
            XCTAssertEqual(e.data, opaque)
            XCTAssertEqual(c.node(id).status.confState.voters, [1, 2, 3], "no membership change without applyConfChange")
        }
        // The application decodes the entry in its own way and passes the struct.
        c.node(1).applyConfChange(ConfChange(type: .addLearnerNode, nodeID: 4))
        XCTAssertEqual(c.node(1).status.confState.learners, [4])
    }
}

/// Bootstrapping a cluster through membership entries in the log (etcd's way).
final class BootstrapTests: XCTestCase {
    func testBootstrappedMembershipReachesMembersAddedLater() throws {
        let ids: [UInt64] = [1, 2, 3]
        let stores = ids.reduce(into: [UInt64: MemoryStorage]()) { $0[$1] = MemoryStorage() }
        let c = try TestCluster(ids: ids, storages: stores)
        for id in ids { try c.node(id).bootstrap(peers: ConfChangeCodec.bootstrapPeers(ids)) }
        c.flush()
        XCTAssertEqual(c.node(2).status.confState.voters, ids)
        XCTAssertEqual(c.log(1).map(\.type), [.confChange, .confChange, .confChange])
        XCTAssertEqual(c.log(1).map(\.data), ConfChangeCodec.bootstrapPeers(ids).map(\.data),
                       "the application's bytes are stored verbatim")
        c.elect(1)
        c.propose(1, bytes("a"))
        try c.add(4, storage: MemoryStorage())
        try c.node(1).proposeConfChange(ConfChange(type: .addLearnerNode, nodeID: 4))
        c.flush()
        c.tick(1)
        XCTAssertEqual(c.node(4).status.confState, ConfState(voters: ids, learners: [4]),
                       "the new member replayed the whole membership from the log")
        try c.node(1).proposeConfChange(ConfChange(type: .addNode, nodeID: 4))
        c.flush()
        XCTAssertEqual(c.node(4).status.confState.voters, [1, 2, 3, 4])
        XCTAssertEqual(c.data(4), [bytes("a")])
    }

    func testBootstrapRefusesNonEmptyStorage() throws {
        let n = try RawNode(config: RaftConfig(id: 1), storage: storage(voters: [1], terms: [1]))
        XCTAssertThrowsError(try n.bootstrap(peers: [(id: 1, data: [])]))
        let empty = try RawNode(config: RaftConfig(id: 1), storage: MemoryStorage())
        XCTAssertThrowsError(try empty.bootstrap(peers: []))
        XCTAssertThrowsError(try empty.bootstrap(peers: [(id: 0, data: [])]))
    }

    func testBootstrapStoresOpaquePeerDataAndAddsTheVoters() throws {
        let s = MemoryStorage()
        let n = try RawNode(config: RaftConfig(id: 2), storage: s)
        try n.bootstrap(peers: [(id: 1, data: [0xaa]), (id: 2, data: [0xbb, 0xcc]), (id: 3, data: [])])
        XCTAssertEqual(n.status.confState.voters, [1, 2, 3])
        let rd = n.ready()
        XCTAssertEqual(rd.entries.map(\.data), [[0xaa], [0xbb, 0xcc], []])
        XCTAssertEqual(rd.entries.map(\.index), [1, 2, 3])
        XCTAssertEqual(rd.entries.map(\.term), [1, 1, 1])
        XCTAssertTrue(rd.entries.allSatisfy { $0.type == .confChange })
        XCTAssertEqual(rd.committedEntries, rd.entries)
        XCTAssertEqual(rd.hardState, HardState(term: 1, vote: 0, commit: 3))
        XCTAssertFalse(rd.canApplyBeforePersisting, "the committed entries are this Ready's own")
    }
}
