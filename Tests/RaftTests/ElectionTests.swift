import XCTest
@testable import Raft
import RaftTestKit

/// Leader election (Raft paper §5.2, §5.4.1, §9.6 pre-vote, §6 check-quorum).
final class ElectionTests: XCTestCase {
    func testFollowerStartsElectionAfterElectionTimeoutWithoutHearingFromLeader() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.isolate(1)
        c.tick(1, 2 * 10)
        XCTAssertEqual(c.node(1).state, .candidate)
        XCTAssertGreaterThanOrEqual(c.node(1).term, 1)
        XCTAssertEqual(c.node(1).status.hardState.vote, 1, "a candidate votes for itself")
    }

    func testCandidateWinsElectionWithVotesFromMajority() throws {
        let c = try TestCluster(ids: [1, 2, 3, 4, 5])
        c.isolate(4)
        c.isolate(5)
        c.elect(1)
        XCTAssertEqual(c.node(1).term, 1)
        XCTAssertEqual(c.node(2).leader, 1)
    }

    func testCandidateWithoutMajorityDoesNotWin() throws {
        let c = try TestCluster(ids: [1, 2, 3, 4, 5])
        for id: UInt64 in [3, 4, 5] { c.isolate(id) }
        c.campaign(1)
        XCTAssertEqual(c.node(1).state, .candidate)
        XCTAssertNil(c.leader)
    }

    func testEachServerVotesForAtMostOneCandidatePerTerm() throws {
        let s = storage(voters: [1, 2, 3])
        let n = try RawNode(config: RaftConfig(id: 3), storage: s)
        try n.step(Message(type: .vote, to: 3, from: 1, term: 1))
        let first = n.takeMessages(persistingTo: s)
        XCTAssertEqual(first.map(\.reject), [false])
        try n.step(Message(type: .vote, to: 3, from: 2, term: 1))
        let second = n.takeMessages(persistingTo: s)
        XCTAssertEqual(second.map(\.reject), [true], "second candidate of the same term must be refused")
        // Asking again for the one we voted for is answered yes (a retransmission).
        try n.step(Message(type: .vote, to: 3, from: 1, term: 1))
        XCTAssertEqual(n.takeMessages().map(\.reject), [false])
    }

    func testVoterDeniesVoteToCandidateWithLessUpToDateLog() throws {
        // Our log ends with (index 3, term 2).
        let cases: [(logTerm: UInt64, index: UInt64, grant: Bool)] = [
            (1, 5, false), // older last term loses even if longer
            (2, 2, false), // same term, shorter
            (2, 3, true),  // same term, same length
            (2, 4, true),
            (3, 1, true),  // newer last term wins even if shorter
        ]
        for (i, tc) in cases.enumerated() {
            let s = storage(voters: [1, 2, 3], terms: [1, 1, 2], hardState: HardState(term: 2))
            let n = try RawNode(config: RaftConfig(id: 1), storage: s)
            try n.step(Message(type: .vote, to: 1, from: 2, term: 3, logTerm: tc.logTerm, index: tc.index))
            let out = n.takeMessages()
            XCTAssertEqual(out.count, 1, "case \(i)")
            XCTAssertEqual(out.first?.reject, !tc.grant, "case \(i)")
        }
    }

    func testCandidateStepsDownOnAppendFromLeaderOfSameTerm() throws {
        let s = storage(voters: [1, 2, 3])
        let n = try RawNode(config: RaftConfig(id: 1), storage: s)
        try n.campaign()
        XCTAssertEqual(n.state, .candidate)
        _ = n.takeMessages(persistingTo: s)
        try n.step(Message(type: .app, to: 1, from: 2, term: 1, logTerm: 0, index: 0))
        XCTAssertEqual(n.state, .follower)
        XCTAssertEqual(n.leader, 2)
    }

    func testSplitVoteIsResolvedByRandomizedTimeoutsInALaterTerm() throws {
        let c = try TestCluster(ids: [1, 2, 3, 4])
        c.cut(1, 2)
        c.cut(1, 4)
        c.cut(2, 3)
        c.campaign(1) // gets 3
        c.campaign(2) // gets 4
        XCTAssertNil(c.leader, "two votes of four is no majority")
        XCTAssertEqual(c.node(1).term, 1)
        XCTAssertEqual(c.node(2).term, 1)
        c.recover()
        var ticks = 0
        while c.leader == nil && ticks < 200 {
            c.tickAll()
            ticks += 1
        }
        let l = try XCTUnwrap(c.leader)
        XCTAssertGreaterThanOrEqual(c.node(l).term, 2)
        XCTAssertEqual(c.nodes.values.filter { $0.isLeader && $0.term == c.node(l).term }.count, 1)
    }

    func testElectionTimeoutIsRandomizedBetweenOneAndTwoTimesTheElectionTick() throws {
        var seen = Set<Int>()
        for seed in UInt64(1)...50 {
            let s = storage(voters: [1, 2, 3])
            var cfg = RaftConfig(id: 1, randomSeed: seed)
            cfg.electionTick = 10
            let n = try RawNode(config: cfg, storage: s)
            var ticks = 0
            while n.state == .follower {
                n.tick()
                ticks += 1
            }
            XCTAssertGreaterThanOrEqual(ticks, 10)
            XCTAssertLessThan(ticks, 20)
            seen.insert(ticks)
        }
        XCTAssertGreaterThan(seen.count, 3, "timeouts should spread to avoid split votes")
    }

    func testStaleLeaderStepsDownAndItsUncommittedEntryIsDiscarded() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.isolate(1)
        XCTAssertNil(c.propose(1, bytes("stale")), "an isolated leader still accepts proposals")
        c.elect(2)
        XCTAssertEqual(c.node(2).term, 2)
        XCTAssertNil(c.propose(2, bytes("fresh")))
        c.recover()
        c.tick(2) // heartbeat from the new leader
        c.tickAll(3)
        XCTAssertEqual(c.node(1).state, .follower)
        XCTAssertEqual(c.node(1).term, 2)
        for id: UInt64 in [1, 2, 3] {
            XCTAssertFalse(c.log(id).contains { $0.data == bytes("stale") }, "node \(id)")
            XCTAssertEqual(c.data(id), [bytes("fresh")], "node \(id)")
        }
    }

    func testPreVoteStopsPartitionedNodeFromInflatingTerm() throws {
        let c = try TestCluster(ids: [1, 2, 3]) { $0.preVote = true }
        c.elect(1)
        c.isolate(3)
        c.tick(3, 100)
        XCTAssertEqual(c.node(3).term, 1, "pre-vote never wins, so the term never rises")
        XCTAssertEqual(c.node(3).state, .preCandidate)
        c.recover()
        c.tick(1)
        c.tickAll(5)
        XCTAssertEqual(c.leader, 1, "the rejoining node does not depose the leader")
        XCTAssertEqual(c.node(1).term, 1)
        XCTAssertEqual(c.node(3).leader, 1)
    }

    func testWithoutPreVotePartitionedNodeInflatesTermAndDisruptsOnReturn() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.isolate(3)
        c.tick(3, 100)
        XCTAssertGreaterThan(c.node(3).term, 3)
        c.recover()
        c.tick(3, 20) // its next campaign reaches the others
        XCTAssertGreaterThan(c.node(1).term, 3, "the higher term forced the leader to step down")
    }

    func testCheckQuorumLeaderStepsDownWhenCutOffFromQuorum() throws {
        let c = try TestCluster(ids: [1, 2, 3]) { $0.checkQuorum = true }
        c.elect(1)
        c.isolate(1)
        // Peers were heard during the first election timeout; the second one finds no quorum.
        c.tick(1, 2 * 10 + 1)
        XCTAssertEqual(c.node(1).state, .follower)
        XCTAssertEqual(c.node(1).leader, 0)
    }

    func testCheckQuorumLeaseIgnoresVoteRequestsWhileLeaderIsHeard() throws {
        let c = try TestCluster(ids: [1, 2, 3]) { $0.checkQuorum = true }
        c.elect(1)
        c.isolate(3)
        c.tick(3, 30) // 3 campaigns, raising its term
        let t3 = c.node(3).term
        XCTAssertGreaterThan(t3, 1)
        c.recover()
        try c.node(3).campaign()
        c.flush()
        XCTAssertEqual(c.node(1).state, .leader, "nodes inside the leader lease ignore the vote")
        XCTAssertEqual(c.node(2).term, 1)
    }

    func testSingleNodeElectsItselfAtOnce() throws {
        let c = try TestCluster(ids: [1])
        c.elect(1)
        XCTAssertNil(c.propose(1, bytes("x")))
        XCTAssertEqual(c.data(1), [bytes("x")])
    }
}
