import XCTest
@testable import Raft

/// MemoryStorage, the unstable log, RaftLog and the inflight window.
final class StorageAndLogTests: XCTestCase {
    private func store(_ terms: [UInt64], from first: UInt64 = 1) -> MemoryStorage {
        let s = MemoryStorage()
        if first > 1 {
            try! s.applySnapshot(Snapshot(metadata: SnapshotMetadata(index: first - 1, term: terms.first ?? 1)))
        }
        s.append(terms.enumerated().map { Entry(term: $0.element, index: first + UInt64($0.offset)) })
        return s
    }

    func testMemoryStorageReportsCompactedAndUnavailable() throws {
        let s = store([3, 4, 5], from: 4) // snapshot at 3, entries 4...6
        XCTAssertEqual(try s.firstIndex(), 4)
        XCTAssertEqual(try s.lastIndex(), 6)
        XCTAssertEqual(try s.term(3), 3, "the snapshot position has a term")
        XCTAssertThrowsError(try s.term(2)) { XCTAssertEqual($0 as? RaftStorageError, .compacted) }
        XCTAssertThrowsError(try s.term(7)) { XCTAssertEqual($0 as? RaftStorageError, .unavailable) }
        XCTAssertThrowsError(try s.entries(3, 5, maxSize: .max)) { XCTAssertEqual($0 as? RaftStorageError, .compacted) }
        XCTAssertThrowsError(try s.entries(4, 8, maxSize: .max)) { XCTAssertEqual($0 as? RaftStorageError, .unavailable) }
        XCTAssertEqual(try s.entries(4, 7, maxSize: .max).map(\.index), [4, 5, 6])
        XCTAssertEqual(try s.entries(4, 7, maxSize: 0).map(\.index), [4], "at least one entry")
    }

    func testMemoryStorageAppendTruncatesConflictsAndIgnoresCompacted() throws {
        let s = store([1, 1, 1])
        s.append([Entry(term: 2, index: 2), Entry(term: 2, index: 3), Entry(term: 2, index: 4)])
        XCTAssertEqual(try s.entries(1, 5, maxSize: .max).map(\.term), [1, 2, 2, 2])
        try s.compact(3)
        s.append([Entry(term: 2, index: 3), Entry(term: 3, index: 4)])
        XCTAssertEqual(try s.firstIndex(), 4)
        XCTAssertEqual(try s.term(4), 3)
        XCTAssertThrowsError(try s.compact(2)) { XCTAssertEqual($0 as? RaftStorageError, .compacted) }
    }

    func testCreateSnapshotAndApplyOlderSnapshotFails() throws {
        let s = store([1, 2, 3])
        let snap = try s.createSnapshot(2, confState: ConfState(voters: [1]), data: [42])
        XCTAssertEqual(snap.metadata.term, 2)
        XCTAssertEqual(try s.initialState().1.voters, [1])
        XCTAssertThrowsError(try s.createSnapshot(1, confState: nil, data: [])) {
            XCTAssertEqual($0 as? RaftStorageError, .snapOutOfDate)
        }
        XCTAssertThrowsError(try s.applySnapshot(Snapshot(metadata: SnapshotMetadata(index: 1, term: 1))))
        try s.applySnapshot(Snapshot(data: [7], metadata: SnapshotMetadata(index: 10, term: 5)))
        XCTAssertEqual(try s.firstIndex(), 11)
        XCTAssertEqual(try s.lastIndex(), 10)
    }

    func testApplySnapshotReplacesTheLogAndMembership() throws {
        let s = store([1, 1, 2, 2, 2])
        s.setHardState(HardState(term: 2, vote: 1, commit: 5))
        let cs = ConfState(voters: [1, 2, 3], learners: [4])
        try s.applySnapshot(Snapshot(data: [9], metadata: SnapshotMetadata(confState: cs, index: 4, term: 2)))
        XCTAssertEqual(try s.firstIndex(), 5)
        XCTAssertEqual(try s.lastIndex(), 4, "every entry is dropped, even those after the snapshot")
        XCTAssertEqual(try s.term(4), 2)
        XCTAssertThrowsError(try s.entries(4, 5, maxSize: .max)) { XCTAssertEqual($0 as? RaftStorageError, .compacted) }
        XCTAssertEqual(try s.initialState().1, cs)
        XCTAssertEqual(try s.snapshot().data, [9])
        XCTAssertThrowsError(try s.applySnapshot(Snapshot(metadata: SnapshotMetadata(index: 4, term: 2)))) {
            XCTAssertEqual($0 as? RaftStorageError, .snapOutOfDate)
        }
        // The log continues after the snapshot, and a node restarts from it.
        s.append([Entry(term: 3, index: 5), Entry(term: 3, index: 6)])
        XCTAssertEqual(try s.entries(5, 7, maxSize: .max).map(\.term), [3, 3])
        s.setHardState(HardState(term: 3, vote: 0, commit: 5))
        let n = try RawNode(config: RaftConfig(id: 1), storage: s)
        XCTAssertEqual(n.status.confState, cs)
        XCTAssertEqual(n.committed, 5)
        XCTAssertEqual(n.ready().committedEntries.map(\.index), [5], "entries after the snapshot are applied")
    }

    func testMemoryStorageAppendAndReadDoNotCopyTheLog() throws {
        // One entry at a time with a read of the newest each time, as a raft loop does: linear
        // work overall. A copy of the whole log per append or read would take minutes here.
        let s = MemoryStorage()
        let n = 100_000
        let data = [UInt8](repeating: 7, count: 64)
        let start = ContinuousClock.now
        for i in 1...UInt64(n) {
            s.append([Entry(term: 1, index: i, data: data)])
            XCTAssertEqual(try s.entries(i, i + 1, maxSize: .max).count, 1)
        }
        try s.compact(UInt64(n - 5_000))
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(try s.lastIndex(), UInt64(n))
        XCTAssertEqual(try s.firstIndex(), UInt64(n - 5_000 + 1))
        XCTAssertLessThan(elapsed, .seconds(20), "append or entries(lo, hi) copies the log")
    }

    func testRaftLogSliceRespectsSizeAcrossStorageAndUnstable() throws {
        let s = MemoryStorage()
        s.append((1...4).map { Entry(term: 1, index: UInt64($0), data: [UInt8](repeating: 0, count: 76)) })
        var log = try RaftLog(storage: s, maxNextEntsSize: .max)
        log.append((5...6).map { Entry(term: 2, index: UInt64($0), data: [UInt8](repeating: 0, count: 76)) }[...])
        // Each entry counts 100 bytes.
        XCTAssertEqual(try log.slice(1, 7, maxSize: 250).map(\.index), [1, 2])
        XCTAssertEqual(try log.slice(3, 7, maxSize: 350).map(\.index), [3, 4, 5])
        XCTAssertEqual(try log.slice(5, 7, maxSize: 0).map(\.index), [5])
        XCTAssertEqual(try log.slice(2, 7, maxSize: .max).map(\.index), [2, 3, 4, 5, 6])
    }

    func testUnstableStableToIgnoresReplacedEntries() {
        var u = Unstable(offset: 5)
        u.truncateAndAppend([Entry(term: 1, index: 5), Entry(term: 1, index: 6)][...])
        u.truncateAndAppend([Entry(term: 2, index: 6)][...])
        u.stableTo(6, 1) // the old entry at 6 was persisted, but it has been replaced
        XCTAssertEqual(u.entries.map(\.term), [1, 2])
        u.stableTo(5, 1)
        XCTAssertEqual(u.offset, 6)
        XCTAssertEqual(u.entries.map(\.index), [6])
        u.truncateAndAppend([Entry(term: 3, index: 4)][...])
        XCTAssertEqual(u.offset, 4)
        XCTAssertEqual(u.maybeLastIndex(), 4)
    }

    func testRaftLogSlicesAcrossStorageAndUnstable() throws {
        var log = try RaftLog(storage: store([1, 1, 1]), maxNextEntsSize: .max)
        log.append([Entry(term: 2, index: 4), Entry(term: 2, index: 5)][...])
        XCTAssertEqual(try log.slice(2, 6, maxSize: .max).map(\.index), [2, 3, 4, 5])
        XCTAssertEqual(try log.term(5), 2)
        XCTAssertEqual(try log.term(9), 0)
        XCTAssertTrue(log.isUpToDate(5, 2))
        XCTAssertFalse(log.isUpToDate(9, 1))
        XCTAssertFalse(log.maybeCommit(3, 2), "entry 3 is of term 1: not committable in term 2")
        XCTAssertTrue(log.maybeCommit(4, 2))
        XCTAssertEqual(log.nextEntries().map(\.index), [1, 2, 3, 4])
        XCTAssertEqual(log.findConflict([Entry(term: 2, index: 5), Entry(term: 3, index: 6)]), 6)
    }

    func testInflightsWindowFreesUpToAcknowledgedIndexAndWrapsAround() {
        var inf = Inflights(size: 3)
        inf.add(1)
        inf.add(3)
        inf.add(5)
        XCTAssertTrue(inf.full)
        inf.freeLE(3)
        XCTAssertEqual(inf.count, 1)
        inf.add(7)
        inf.add(9)
        XCTAssertTrue(inf.full)
        inf.freeFirstOne()
        XCTAssertEqual(inf.count, 2)
        inf.freeLE(100)
        XCTAssertEqual(inf.count, 0)
    }

    func testProgressProbeAndReplicateTransitions() {
        let pr = Progress(next: 5, inflights: 2, isLearner: false)
        XCTAssertFalse(pr.isPaused)
        pr.probeSent = true
        XCTAssertTrue(pr.isPaused, "probe: one append at a time")
        XCTAssertTrue(pr.maybeDecrTo(4, 2))
        XCTAssertEqual(pr.next, 3, "next drops to the follower's last index + 1")
        XCTAssertFalse(pr.maybeDecrTo(4, 2), "a stale rejection is ignored")
        XCTAssertTrue(pr.maybeUpdate(3))
        pr.becomeReplicate()
        XCTAssertEqual(pr.next, 4)
        pr.inflights.add(4)
        pr.inflights.add(5)
        XCTAssertTrue(pr.isPaused)
        pr.becomeSnapshot(10)
        XCTAssertTrue(pr.isPaused)
        pr.becomeProbe()
        XCTAssertEqual(pr.next, 11, "after a snapshot, probe from just past it")
    }
}
