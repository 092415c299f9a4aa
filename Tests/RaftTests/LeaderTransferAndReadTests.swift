import XCTest
@testable import Raft
import RaftTestKit

/// Leader transfer (thesis §3.10) and ReadIndex reads (thesis §6.4).
final class LeaderTransferAndReadTests: XCTestCase {
    func testLeaderTransferToUpToDateFollower() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.node(1).transferLeader(to: 2)
        c.flush()
        XCTAssertEqual(c.leader, 2)
        XCTAssertEqual(c.node(2).term, 2)
        XCTAssertEqual(c.node(1).state, .follower)
    }

    func testLeaderTransferWorksWithPreVoteAndCheckQuorum() throws {
        let c = try TestCluster(ids: [1, 2, 3]) {
            $0.preVote = true
            $0.checkQuorum = true
        }
        c.elect(1)
        c.node(1).transferLeader(to: 3)
        c.flush()
        XCTAssertEqual(c.leader, 3, "TimeoutNow bypasses pre-vote and the leader lease")
    }

    func testLeaderTransferToLaggingFollowerCatchesItUpFirst() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.isolate(3)
        for i in 0..<5 { c.propose(1, [UInt8(i)]) }
        c.recover()
        c.node(1).transferLeader(to: 3)
        c.flush()
        XCTAssertEqual(c.leader, 3)
        XCTAssertEqual(c.data(3).count, 5)
    }

    func testProposalsAreDroppedWhileTransferIsPending() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.isolate(3)
        c.propose(1, bytes("x"))
        c.node(1).transferLeader(to: 3)
        c.flush()
        XCTAssertEqual(c.node(1).status.leadTransferee, 3)
        XCTAssertEqual(c.propose(1, bytes("y")), .proposalDropped)
    }

    func testLeaderTransferIsAbortedAfterAnElectionTimeout() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.isolate(3)
        c.node(1).transferLeader(to: 3)
        c.flush()
        XCTAssertEqual(c.node(1).status.leadTransferee, 3)
        c.tick(1, 10)
        XCTAssertEqual(c.node(1).status.leadTransferee, 0)
        XCTAssertEqual(c.leader, 1)
        XCTAssertNil(c.propose(1, bytes("y")))
    }

    func testTransferToLearnerIsIgnored() throws {
        let stores = [1, 2, 3].reduce(into: [UInt64: MemoryStorage]()) { $0[$1] = storage(voters: [1, 2], learners: [3]) }
        let c = try TestCluster(ids: [1, 2, 3], storages: stores)
        c.elect(1)
        c.node(1).transferLeader(to: 3)
        c.flush()
        XCTAssertEqual(c.leader, 1)
        XCTAssertEqual(c.node(1).status.leadTransferee, 0)
    }

    func testSafeReadIndexIsAnsweredAfterQuorumConfirmsLeadership() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.propose(1, bytes("w"))
        c.ignore(.heartbeatResp)
        c.node(1).readIndex(context: bytes("r1"))
        c.flush()
        XCTAssertEqual(c.readStates[1] ?? [], [], "no answer before a quorum acknowledges")
        c.recover()
        c.node(1).readIndex(context: bytes("r2"))
        c.flush()
        // r2's confirmation also confirms the earlier r1.
        XCTAssertEqual(c.readStates[1]?.map(\.requestCtx), [bytes("r1"), bytes("r2")])
        XCTAssertEqual(c.readStates[1]?.last?.index, c.node(1).committed)
    }

    func testReadIndexFromFollowerIsForwardedToLeader() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.propose(1, bytes("w"))
        c.node(2).readIndex(context: bytes("f"))
        c.flush()
        XCTAssertEqual(c.readStates[2], [ReadState(index: c.node(1).committed, requestCtx: bytes("f"))])
    }

    func testIsolatedStaleLeaderCannotServeReads() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.isolate(1)
        c.elect(2)
        c.propose(2, bytes("newer"))
        c.node(1).readIndex(context: bytes("stale"))
        c.flush()
        XCTAssertEqual(c.readStates[1] ?? [], [])
    }

    func testReadIndexWaitsUntilLeaderCommittedAnEntryOfItsTerm() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.ignore(.appResp)
        c.elect(1)
        c.node(1).readIndex(context: bytes("early"))
        c.flush()
        XCTAssertEqual(c.readStates[1] ?? [], [], "the commit index may be stale until the term's first entry commits")
    }

    func testLeaseBasedReadIsAnsweredWithoutHeartbeatRound() throws {
        let c = try TestCluster(ids: [1, 2, 3]) {
            $0.checkQuorum = true
            $0.readOnlyOption = .leaseBased
        }
        c.elect(1)
        c.ignore(.heartbeat)
        c.node(1).readIndex(context: bytes("lease"))
        c.flush()
        XCTAssertEqual(c.readStates[1]?.map(\.requestCtx), [bytes("lease")])
    }

    func testLeaseBasedReadsRequireCheckQuorum() {
        var cfg = RaftConfig(id: 1)
        cfg.readOnlyOption = .leaseBased
        XCTAssertThrowsError(try RawNode(config: cfg, storage: storage(voters: [1])))
    }
}
