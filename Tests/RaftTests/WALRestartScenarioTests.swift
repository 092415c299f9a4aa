import XCTest
@testable import Raft
@testable import RaftTestKit

/// Hand-written `Ready` sequences through a WAL-mode simulation node (`SimDisk`): written as the
/// server writes them, then a crash and the server's restart (`WAL.open` at the backend's
/// snapshot, `MemoryStorage` rebuilt), whose result must equal the storage before the crash.
/// Each is a case the seeded runs found (see `WALSimulationTests`).
final class WALRestartScenarioTests: XCTestCase {
    /// Node 1 of a three-node WAL simulation, its raft node stopped: the test writes its Readys.
    private final class Scenario {
        let sim: Simulation
        let node: SimNode

        init(segmentSize: Int = 1024) throws {
            var o = SimOptions(seed: 1, nodes: 3)
            o.wal = true
            o.walSegmentSize = segmentSize
            sim = try Simulation(options: o)
            node = sim.nodes[1]!
            try node.crash()
        }

        var disk: SimDisk { node.disk! }

        func write(_ rd: Ready, file: StaticString = #filePath, line: UInt = #line) {
            sim.persist(node, rd)
            XCTAssertNil(sim.failure, file: file, line: line)
        }

        /// One Ready per entry (`first...last` of `term`), as a follower appending one by one.
        func append(_ r: ClosedRange<UInt64>, term: UInt64, commit: UInt64) {
            for i in r {
                write(Ready(hardState: HardState(term: term, vote: 0, commit: commit),
                            entries: [Entry(term: term, index: i, data: [UInt8(truncatingIfNeeded: i)])], mustSync: true))
            }
        }

        func receiveSnapshot(index: UInt64, term: UInt64) {
            let s = Snapshot(data: SimNode.encodeChecksum(index &* 31),
                             metadata: SnapshotMetadata(confState: ConfState(voters: [1, 2, 3]), index: index, term: term))
            write(Ready(hardState: HardState(term: term, vote: 0, commit: index), snapshot: s, mustSync: true))
        }

        /// Applies through `index` and takes a log snapshot there (WAL record, `releaseTo`).
        func snapshot(at index: UInt64) throws {
            for e in try node.storage.entries(node.applied + 1, index + 1, maxSize: Int.max) { node.apply(e) }
            try node.compact(keep: 0)
        }

        func restart() throws { try node.crash() }
    }

    /// A new leader's entry at or below the snapshot index rewrote a longer tail: the tail must
    /// not come back (WAL.open skipped entries at or below the snapshot, and their truncation).
    func testEntryRewrittenAtTheSnapshotIndexDropsTheOldTail() throws {
        let s = try Scenario()
        s.append(2...8, term: 1, commit: 1)
        s.write(Ready(hardState: HardState(term: 2, vote: 0, commit: 5), entries: [Entry(term: 2, index: 5, data: [5])],
                      mustSync: true))
        try s.snapshot(at: 5)
        XCTAssertNoThrow(try s.restart())
        XCTAssertEqual(try s.node.storage.lastIndex(), 5)
    }

    /// A snapshot received from a leader below the end of a (stale) log, and a crash before the
    /// applier installed it: the restart installs it and drops the stale log (WAL.open took its
    /// record for a log snapshot of this member, as it lies within the entries read).
    func testSnapshotReceivedWithinAStaleLogBeforeItsInstallation() throws {
        let s = try Scenario()
        s.append(2...8, term: 1, commit: 1)
        s.receiveSnapshot(index: 5, term: 2)
        XCTAssertNoThrow(try s.restart())
        XCTAssertEqual(s.node.storage.snap.metadata.index, 5)
        XCTAssertEqual(try s.node.storage.lastIndex(), 5)
    }

    /// The same, installed before the crash (the WAL opens at that snapshot): the stale entries
    /// after it, written before its record, must not come back.
    func testSnapshotReceivedWithinAStaleLogInstalled() throws {
        let s = try Scenario()
        s.append(2...8, term: 1, commit: 1)
        s.receiveSnapshot(index: 5, term: 2)
        s.disk.notePending()
        XCTAssertNoThrow(try s.restart())
        XCTAssertEqual(try s.node.storage.lastIndex(), 5)
    }

    /// A received snapshot's record that fills a segment: the next segment must be named after
    /// the snapshot, or a restart at that snapshot starts past its record (etcd's SaveSnapshot
    /// raises the WAL's last index to the snapshot's).
    func testSnapshotRecordThatCutsASegment() throws {
        var found = false
        for k in UInt64(2)...60 {
            let s = try Scenario()
            s.append(2...k, term: 1, commit: 1)
            let cuts = s.disk.segmentsCut
            s.write(Ready(snapshot: Snapshot(data: SimNode.encodeChecksum(7), metadata: SnapshotMetadata(
                confState: ConfState(voters: [1, 2, 3]), index: k + 10, term: 2))))
            guard s.disk.segmentsCut > cuts else { continue }
            found = true
            s.append((k + 11)...(k + 12), term: 2, commit: k + 10)
            s.disk.notePending()
            XCTAssertNoThrow(try s.restart(), "snapshot record at \(k + 10) cut the segment")
            break
        }
        XCTAssertTrue(found, "no snapshot record filled a segment")
    }

    /// Segments left before the one a restart opens at must go with the next release, not leave
    /// a hole in the sequence that the restart after refuses.
    func testSegmentsBeforeTheOpenedOneAreReleasedToo() throws {
        let s = try Scenario()
        s.append(2...60, term: 1, commit: 1)
        s.receiveSnapshot(index: 100, term: 2)
        s.disk.notePending()
        try s.restart()
        s.append(101...200, term: 2, commit: 200)
        try s.snapshot(at: 190)
        XCTAssertGreaterThan(s.disk.segmentsReleased, 0)
        XCTAssertNoThrow(try s.restart())
        XCTAssertEqual(try s.node.storage.lastIndex(), 200)
    }

    /// Unsynced records (commit-only hard states) are lost; a torn record after the synced ones
    /// is cut off.
    func testCrashLosesUnsyncedHardStateAndCutsATornRecord() throws {
        let s = try Scenario()
        s.append(2...6, term: 1, commit: 1)
        s.write(Ready(hardState: HardState(term: 1, vote: 0, commit: 4)))
        XCTAssertEqual(s.disk.unsynced.count, 1)
        var rng = SplitMix64(seed: 3)
        try s.node.crash(.tornTail(keep: 0, garbage: SimDisk.tornRecord(size: 40, rng: &rng)))
        XCTAssertEqual(s.node.storage.hardState, HardState(term: 1, vote: 0, commit: 1))
        XCTAssertEqual(try s.node.storage.lastIndex(), 6)
        XCTAssertEqual(s.disk.tornTails, 1)
        s.write(Ready(hardState: HardState(term: 1, vote: 0, commit: 5)))
        try s.node.crash(.unsyncedSurvive)
        XCTAssertEqual(s.node.storage.hardState.commit, 5)
    }
}
