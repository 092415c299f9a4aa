import XCTest
@testable import Raft
import RaftTestKit

/// Log replication and the commit rule (Raft paper §5.3, §5.4.2), flow control and batching.
final class ReplicationTests: XCTestCase {
    func testEntryIsCommittedOnceReplicatedOnMajority() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        c.isolate(3)
        XCTAssertNil(c.propose(1, bytes("a")))
        XCTAssertEqual(c.node(1).committed, 2, "the empty entry and `a` are on 1 and 2")
        XCTAssertEqual(c.data(1), [bytes("a")])
        XCTAssertEqual(c.data(2), [bytes("a")])
        XCTAssertEqual(c.data(3), [])
    }

    func testEntryIsNotCommittedWithoutMajority() throws {
        let c = try TestCluster(ids: [1, 2, 3, 4, 5])
        c.elect(1)
        for id: UInt64 in [3, 4, 5] { c.isolate(id) }
        let before = c.node(1).committed
        XCTAssertNil(c.propose(1, bytes("a")))
        XCTAssertEqual(c.node(1).committed, before)
        XCTAssertEqual(c.data(1), [])
    }

    func testAllNodesApplyTheSameEntriesInLogOrder() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        for i in 0..<20 { c.propose(UInt64(i % 3) + 1, [UInt8(i)]) }
        let want = (0..<20).map { [UInt8($0)] }
        for id: UInt64 in [1, 2, 3] { XCTAssertEqual(c.data(id), want, "node \(id)") }
    }

    /// Figure 7: whatever the follower's log (missing, extra or conflicting entries), the leader
    /// forces it to duplicate its own.
    func testFigure7LeaderRepairsAnyFollowerLog() throws {
        let leaderLog: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
        let followers: [String: [UInt64]] = [
            "a": [1, 1, 1, 4, 4, 5, 5, 6, 6],
            "b": [1, 1, 1, 4],
            "c": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
            "d": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
            "e": [1, 1, 1, 4, 4, 4, 4],
            "f": [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
        ]
        for (name, flog) in followers.sorted(by: { $0.key < $1.key }) {
            let voters: [UInt64] = [1, 2, 3]
            let s1 = storage(voters: voters, terms: leaderLog, hardState: HardState(term: 8, commit: 3))
            let s2 = storage(voters: voters, terms: flog, hardState: HardState(term: 7))
            // Node 3 has an empty log: its vote lets 1 win even when 2's log is "newer".
            let s3 = storage(voters: voters)
            let c = try TestCluster(ids: voters, storages: [1: s1, 2: s2, 3: s3])
            c.elect(1)
            XCTAssertNil(c.propose(1, bytes("new")), name)
            let leader = c.log(1).map { [$0.term, $0.index] }
            XCTAssertEqual(c.log(2).map { [$0.term, $0.index] }, leader, "follower \(name)")
            XCTAssertEqual(c.log(2).map(\.data), c.log(1).map(\.data), "follower \(name)")
        }
    }

    /// Figure 8: a leader never commits an entry of an earlier term by counting replicas; it does
    /// so only by committing an entry of its own term after it.
    func testFigure8LeaderCommitsOldTermEntriesOnlyThroughACurrentTermEntry() throws {
        let voters: [UInt64] = [1, 2, 3]
        // Node 1 holds an entry of term 2 at index 2 that nobody else has.
        let s1 = storage(voters: voters, terms: [1, 2], hardState: HardState(term: 2, commit: 1))
        let s2 = storage(voters: voters, terms: [1], hardState: HardState(term: 2, commit: 1))
        let s3 = storage(voters: voters, terms: [1], hardState: HardState(term: 2, commit: 1))
        let c = try TestCluster(ids: voters, storages: [1: s1, 2: s2, 3: s3]) { $0.maxSizePerMsg = 1 }
        // The first probe (prev index 2) is let through and rejected; after that only appends that
        // stop at index 2 pass: the followers get the old-term entry but not the term-3 one.
        var probed: Set<UInt64> = []
        c.filter = { m in
            guard m.type == .app, m.entries.contains(where: { $0.index >= 3 }) else { return true }
            return probed.insert(m.to).inserted
        }
        c.elect(1)
        XCTAssertEqual(c.node(1).term, 3)
        let st = c.node(1).status
        XCTAssertEqual(st.progress[2]?.match, 2, "index 2 is replicated on every node")
        XCTAssertEqual(st.progress[3]?.match, 2)
        XCTAssertEqual(c.node(1).committed, 1, "but it is of term 2, so counting replicas must not commit it")
        c.filter = nil
        c.tick(1)
        XCTAssertEqual(c.node(1).committed, 3, "committing the term-3 entry commits index 2 too")
        XCTAssertEqual(c.applied[2]?.map(\.index), [1, 2, 3])
    }

    func testFollowerRejectsAppendWhosePreviousEntryDoesNotMatch() throws {
        let s = storage(voters: [1, 2, 3], terms: [1, 1], hardState: HardState(term: 2))
        let n = try RawNode(config: RaftConfig(id: 2), storage: s)
        let e3 = Entry(term: 2, index: 3, data: [3])
        try n.step(Message(type: .app, to: 2, from: 1, term: 2, logTerm: 1, index: 3, entries: [e3]))
        var out = n.takeMessages(persistingTo: s)
        XCTAssertEqual(out.last?.reject, true, "no entry at index 3")
        XCTAssertEqual(out.last?.rejectHint, 2)
        try n.step(Message(type: .app, to: 2, from: 1, term: 2, logTerm: 2, index: 2, entries: [e3]))
        out = n.takeMessages(persistingTo: s)
        XCTAssertEqual(out.last?.reject, true, "entry 2 has term 1, not 2")
        try n.step(Message(type: .app, to: 2, from: 1, term: 2, logTerm: 1, index: 2, entries: [e3]))
        out = n.takeMessages(persistingTo: s)
        XCTAssertEqual(out.last?.reject, false)
        XCTAssertEqual(out.last?.index, 3)
        XCTAssertEqual(try s.lastIndex(), 3)
    }

    func testConflictingUncommittedFollowerEntriesAreReplaced() throws {
        let s = storage(voters: [1, 2, 3], terms: [1, 1, 2, 2], hardState: HardState(term: 2, commit: 2))
        let n = try RawNode(config: RaftConfig(id: 2), storage: s)
        let e3 = Entry(term: 3, index: 3, data: [9])
        try n.step(Message(type: .app, to: 2, from: 1, term: 3, logTerm: 1, index: 2, entries: [e3], commit: 2))
        _ = n.takeMessages(persistingTo: s)
        XCTAssertEqual(try s.lastIndex(), 3, "the conflicting suffix is truncated")
        XCTAssertEqual(try s.term(3), 3)
    }

    func testInflightWindowBoundsUnacknowledgedAppends() throws {
        let c = try TestCluster(ids: [1, 2, 3]) {
            $0.maxInflightMsgs = 3
            $0.maxSizePerMsg = 1
        }
        c.elect(1)
        c.propose(1, bytes("warm-up")) // 2 moves from probe to replicate
        XCTAssertEqual(c.node(1).status.progress[2]?.state, .replicate)
        var sentTo2 = 0
        c.filter = { m in
            if m.from == 1 && m.to == 2 && m.type == .app && !m.entries.isEmpty { sentTo2 += 1 }
            return !(m.from == 2 && m.type == .appResp) // 2 never acknowledges
        }
        for i in 0..<10 { c.propose(1, [UInt8(i)]) }
        XCTAssertEqual(sentTo2, 3, "only maxInflightMsgs appends may be outstanding")
        XCTAssertEqual(c.data(3).count, 11, "the other follower keeps the cluster committing")
        c.filter = nil
        c.tickAll(3)
        XCTAssertEqual(c.data(2).count, 11, "acknowledgements reopen the window")
    }

    func testBatchedProposalTravelsInOneAppend() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        var appends: [Int] = []
        c.filter = { m in
            if m.type == .app && m.to == 2 && !m.entries.isEmpty { appends.append(m.entries.count) }
            return true
        }
        try c.node(1).propose(batch: (0..<100).map { [UInt8($0)] })
        c.flush()
        XCTAssertEqual(appends, [100])
        XCTAssertEqual(c.data(2).count, 100)
    }

    func testMaxSizePerMessageSplitsAppends() throws {
        let c = try TestCluster(ids: [1, 2]) { $0.maxSizePerMsg = 4 * 40 }
        c.elect(1)
        var appends: [Int] = []
        c.filter = { m in
            if m.type == .app && !m.entries.isEmpty { appends.append(m.entries.count) }
            return true
        }
        try c.node(1).propose(batch: (0..<10).map { _ in [UInt8](repeating: 7, count: 16) })
        c.flush()
        XCTAssertGreaterThan(appends.count, 1)
        XCTAssertEqual(appends.reduce(0, +), 10)
        XCTAssertEqual(c.data(2).count, 10)
    }

    func testFollowerForwardsProposalToLeader() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        XCTAssertNil(c.propose(3, bytes("via follower")))
        for id: UInt64 in [1, 2, 3] { XCTAssertEqual(c.data(id), [bytes("via follower")]) }
    }

    func testProposalIsDroppedWithErrorWhenThereIsNoLeader() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        XCTAssertEqual(c.propose(1, bytes("x")), .proposalDropped)
        c.isolate(1)
        c.campaign(1)
        XCTAssertEqual(c.node(1).state, .candidate)
        XCTAssertEqual(c.propose(1, bytes("x")), .proposalDropped, "a candidate has no leader either")
    }

    func testProposalForwardingCanBeDisabled() throws {
        let c = try TestCluster(ids: [1, 2, 3]) { $0.disableProposalForwarding = true }
        c.elect(1)
        XCTAssertEqual(c.propose(2, bytes("x")), .proposalDropped)
    }

    func testUncommittedSizeLimitDropsProposals() throws {
        let c = try TestCluster(ids: [1, 2, 3]) { $0.maxUncommittedEntriesSize = 100 }
        c.elect(1)
        c.isolate(1)
        var dropped = 0
        for _ in 0..<10 where c.propose(1, [UInt8](repeating: 1, count: 40)) == .proposalDropped { dropped += 1 }
        XCTAssertGreaterThan(dropped, 0)
    }

    func testRestartRecoversTermVoteAndLogFromStorage() throws {
        let c = try TestCluster(ids: [1, 2, 3])
        c.elect(1)
        for i in 0..<5 { c.propose(1, [UInt8(i)]) }
        let before = c.node(2).status.hardState
        try c.restart(2)
        XCTAssertEqual(c.node(2).status.hardState, before)
        XCTAssertEqual(c.node(2).state, .follower)
        c.propose(1, bytes("after"))
        XCTAssertEqual(c.log(2).last?.data, bytes("after"))
    }

    func testReadyContractMustSyncWhenEntriesOrVoteChange() throws {
        let s = storage(voters: [1, 2, 3])
        let n = try RawNode(config: RaftConfig(id: 1), storage: s)
        try n.campaign()
        let rd = n.ready()
        XCTAssertEqual(rd.hardState?.term, 1)
        XCTAssertEqual(rd.hardState?.vote, 1)
        XCTAssertTrue(rd.mustSync, "a vote must be durable before the vote requests go out")
        XCTAssertEqual(rd.messages.map(\.type), [.vote, .vote])
        XCTAssertEqual(rd.softState?.raftState, .candidate)
        n.advance(rd)
        XCTAssertFalse(n.hasReady())
    }
}
