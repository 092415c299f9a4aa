import Storage
import XCTest

/// A snapshot received from the leader is recorded in the WAL ahead of the entries that follow
/// it; reopening finds the entries after it even when the backend still notes an older one (a
/// crash before the snapshot's backend was installed).
final class WALInstalledSnapshotTests: XCTestCase {
    var dir: TestDir!
    var walDir: String { dir.path + "/member/wal" }
    override func setUp() { dir = TestDir() }
    override func tearDown() { dir.remove() }

    private func entry(_ i: UInt64, term: UInt64 = 1) -> WALEntry {
        WALEntry(index: i, term: term, data: [UInt8(truncatingIfNeeded: i)])
    }

    func testEntriesFollowAReceivedSnapshot() throws {
        let wal = try WAL.create(dir: walDir, metadata: [])
        try wal.append((1...5).map { .entry(entry($0)) })
        try wal.append(.snapshot(WALSnapshot(index: 100, term: 3)))
        try wal.append((101...103).map { .entry(entry($0, term: 3)) })
        try wal.close()
        let (_, got) = try WAL.open(dir: walDir)
        XCTAssertEqual(got.installedSnapshot, WALSnapshot(index: 100, term: 3))
        XCTAssertEqual(got.entries, (101...103).map { entry($0, term: 3) })
    }

    func testASnapshotRecordInsideTheLogChangesNothing() throws {
        let wal = try WAL.create(dir: walDir, metadata: [])
        try wal.append((1...5).map { .entry(entry($0)) })
        try wal.append(.snapshot(WALSnapshot(index: 4, term: 1)))
        try wal.append(.entry(entry(6)))
        try wal.close()
        let (_, got) = try WAL.open(dir: walDir)
        XCTAssertNil(got.installedSnapshot)
        XCTAssertEqual(got.entries, (1...6).map { entry($0) })
    }
}
