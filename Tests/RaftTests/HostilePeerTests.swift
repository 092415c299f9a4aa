import XCTest
@testable import Raft

/// Messages a confused or hostile peer can send that passed transport validation and used to trap
/// raft (found by fuzzing; inputs under Tests/FuzzCorpus/peer-msgappv2).
final class HostilePeerTests: XCTestCase {
    /// A follower at term 2 holding entries 1...3 (terms 1, 1, 2), 2 committed.
    private func follower() throws -> (RawNode, MemoryStorage) {
        let s = storage(voters: [1, 2, 3], terms: [1, 1, 2], hardState: HardState(term: 2, commit: 2))
        let n = try RawNode(config: RaftConfig(id: 1), storage: s)
        return (n, s)
    }

    func testHeartbeatCommitPastTheLogCommitsOnlyWhatWeHold() throws {
        let (n, s) = try follower()
        try n.step(Message(type: .heartbeat, to: 1, from: 2, term: 2, commit: 100))
        XCTAssertEqual(n.committed, 3)
        let out = n.takeMessages(persistingTo: s)
        XCTAssertEqual(out.map(\.type), [.heartbeatResp])
    }

    func testAppendAfterAnEntryWeLackWithTermZeroIsRejected() throws {
        let (n, s) = try follower()
        // Index 10 is past our log: term(10) reads 0, which must not count as a match.
        try n.step(Message(type: .app, to: 1, from: 2, term: 3, logTerm: 0, index: 10,
                           entries: [Entry(term: 3, index: 11)], commit: 11))
        XCTAssertEqual(n.committed, 2)
        let resp = n.takeMessages(persistingTo: s).filter { $0.type == .appResp }
        XCTAssertEqual(resp.map(\.reject), [true])
        XCTAssertEqual(try s.lastIndex(), 3)
    }

    func testTermZeroEntryPastTheLogIsAppendedNotSkipped() throws {
        let (n, s) = try follower()
        // Entry 4 with term 0 used to "match" the missing entry 4, so entry 5 was appended after 3.
        try n.step(Message(type: .app, to: 1, from: 2, term: 3, logTerm: 2, index: 3,
                           entries: [Entry(term: 0, index: 4), Entry(term: 3, index: 5)], commit: 5))
        _ = n.takeMessages(persistingTo: s)
        XCTAssertEqual(try s.lastIndex(), 5)
        XCTAssertEqual(n.committed, 5)
    }

    func testTransferRequestForwardedWithATermIsForwardedAgain() throws {
        let (n, s) = try follower()
        try n.step(Message(type: .heartbeat, to: 1, from: 2, term: 3, commit: 2))
        _ = n.takeMessages(persistingTo: s)
        // Member 3 forwarded a transfer request to us (it carries 3's term, as forwarded ones do).
        try n.step(Message(type: .transferLeader, to: 1, from: 3, term: 3))
        let out = n.takeMessages(persistingTo: s)
        XCTAssertEqual(out.map(\.type), [.transferLeader])
        XCTAssertEqual(out.first?.to, 2)
        XCTAssertEqual(out.first?.term, 3)
    }
}

/// The leader's side: answers that claim more than it ever sent.
final class HostilePeerLeaderTests: XCTestCase {
    private func leader() throws -> (RawNode, MemoryStorage) {
        let s = storage(voters: [1, 2, 3], terms: [1, 1, 2], hardState: HardState(term: 2, commit: 2))
        let n = try RawNode(config: RaftConfig(id: 1), storage: s)
        try n.campaign()
        _ = n.takeMessages(persistingTo: s)
        try n.step(Message(type: .voteResp, to: 1, from: 2, term: 3))
        _ = n.takeMessages(persistingTo: s)
        XCTAssertTrue(n.isLeader)
        return (n, s)
    }

    func testAppendResponseBeyondTheLogIsDropped() throws {
        let (n, s) = try leader()
        let last = try s.lastIndex()
        // index + 1 overflowed for UInt64.max; any index past our log is not an acknowledgement.
        try n.step(Message(type: .appResp, to: 1, from: 2, term: 3, index: .max))
        try n.step(Message(type: .appResp, to: 1, from: 2, term: 3, index: last + 5))
        _ = n.takeMessages(persistingTo: s)
        XCTAssertLessThanOrEqual(n.status.progress[2]?.match ?? 0, last)
    }

    func testRejectionWithMaximalHintDoesNotOverflow() throws {
        let (n, s) = try leader()
        let last = try s.lastIndex()
        try n.step(Message(type: .appResp, to: 1, from: 3, term: 3, index: last, reject: true, rejectHint: .max))
        _ = n.takeMessages(persistingTo: s)
        XCTAssertTrue(n.isLeader)
    }
}
