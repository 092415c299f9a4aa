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
}
