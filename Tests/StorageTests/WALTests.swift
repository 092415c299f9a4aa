import Glibc
import Storage
import XCTest

final class WALTests: XCTestCase {
    var dir: TestDir!
    var walDir: String { dir.path + "/member/wal" }
    override func setUp() { dir = TestDir() }
    override func tearDown() { dir.remove() }

    private func entry(_ i: UInt64, term: UInt64 = 1, size: Int = 64) -> WALEntry {
        WALEntry(index: i, term: term, type: UInt8(i % 2), data: [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: size))
    }

    func testAppendSyncReopen() throws {
        let wal = try WAL.create(dir: walDir, metadata: [7, 7], options: .init(segmentSize: 64 * 1024))
        XCTAssertTrue(WAL.exists(dir: walDir))
        try wal.append((1...10).map { .entry(entry($0)) })
        try wal.append(.hardState(WALHardState(term: 1, vote: 3, commit: 9)))
        try wal.sync()
        try wal.close()

        let (w2, got) = try WAL.open(dir: walDir, options: .init(segmentSize: 64 * 1024))
        XCTAssertEqual(got.metadata, [7, 7])
        XCTAssertEqual(got.hardState, WALHardState(term: 1, vote: 3, commit: 9))
        XCTAssertEqual(got.entries, (1...10).map { entry($0) })
        XCTAssertEqual(w2.lastIndex, 10)
        XCTAssertThrowsError(try WAL.create(dir: walDir, metadata: [])) {
            XCTAssertEqual($0 as? WALError, .alreadyExists(dir: walDir))
        }
        XCTAssertThrowsError(try WAL.open(dir: dir.path)) { XCTAssertEqual($0 as? WALError, .notFound(dir: dir.path)) }
    }

    func testLaterEntryReplacesTail() throws {
        let wal = try WAL.create(dir: walDir, metadata: [])
        try wal.append((1...5).map { .entry(entry($0)) })
        try wal.append(.entry(entry(3, term: 2)))
        try wal.close()
        let (_, got) = try WAL.open(dir: walDir)
        XCTAssertEqual(got.entries, [entry(1), entry(2), entry(3, term: 2)])
    }

    /// etcd's --max-wals: released segments stay on disk within the bound, oldest deleted first;
    /// 0 keeps every file; segments after the snapshot are never deleted.
    func testReleasedSegmentsAreKeptUpToMaxFiles() throws {
        func files() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: walDir).filter { $0.hasSuffix(".wal") }.sorted()
        }
        for maxFiles in [0, 3] {
            try? FileManager.default.removeItem(atPath: walDir)
            let wal = try WAL.create(dir: walDir, metadata: [1], options: WAL.Options(segmentSize: 4096, maxFiles: maxFiles))
            for i in 1...200 as ClosedRange<UInt64> { try wal.append(.entry(entry(i, size: 100))) }
            try wal.append(.snapshot(WALSnapshot(index: 190, term: 1)))
            try wal.sync()
            let all = try files()
            XCTAssertGreaterThan(all.count, 5)
            let purged = try wal.releaseTo(index: 190)
            let left = try files()
            if maxFiles == 0 {
                XCTAssertEqual(purged, [])
                XCTAssertEqual(left, all)
            } else {
                XCTAssertEqual(left.count, 3)
                XCTAssertEqual(left, Array(all.suffix(3)), "the oldest go first")
                XCTAssertEqual(purged.map { ($0 as NSString).lastPathComponent }, Array(all.prefix(all.count - 3)))
            }
            XCTAssertEqual(wal.segmentPaths.count, 1, "only the tail, which holds the snapshot, stays live")
            try wal.close()
            let (_, got) = try WAL.open(dir: walDir, snapshot: WALSnapshot(index: 190, term: 1), options: WAL.Options(segmentSize: 4096))
            XCTAssertEqual(got.entries.map(\.index), Array(191...200))
        }
    }

    func testManySegmentsReopenAndRelease() throws {
        let opts = WAL.Options(segmentSize: 4096)
        let wal = try WAL.create(dir: walDir, metadata: [1, 2, 3], options: opts)
        for i in 1...300 as ClosedRange<UInt64> {
            try wal.append(.entry(entry(i, size: 100)))
            if i % 7 == 0 { try wal.append(.hardState(WALHardState(term: 1, vote: 1, commit: i))); try wal.sync() }
        }
        try wal.close()
        XCTAssertGreaterThan(wal.segmentPaths.count, 5)

        var (w2, got) = try WAL.open(dir: walDir, options: opts)
        XCTAssertEqual(got.entries.map(\.index), Array(1...300))
        XCTAssertEqual(got.entries[150], entry(151, size: 100))
        XCTAssertEqual(got.hardState?.commit, 294)
        XCTAssertEqual(got.metadata, [1, 2, 3])
        // Keep appending after a reopen: the CRC chain continues.
        for i in 301...400 as ClosedRange<UInt64> { try w2.append(.entry(entry(i, size: 100))) }
        try w2.append(.snapshot(WALSnapshot(index: 350, term: 1)))
        try w2.sync()
        let before = w2.segmentPaths.count
        try w2.releaseTo(index: 350)
        XCTAssertLessThan(w2.segmentPaths.count, before)
        try w2.close()

        (w2, got) = try WAL.open(dir: walDir, snapshot: WALSnapshot(index: 350, term: 1), options: opts)
        XCTAssertEqual(got.entries.map(\.index), Array(351...400))
        XCTAssertEqual(got.metadata, [1, 2, 3])
        XCTAssertThrowsError(try WAL.open(dir: walDir, snapshot: WALSnapshot(index: 350, term: 1), options: opts)) {
            XCTAssertEqual($0 as? WALError, .locked(dir: walDir), "one owner at a time")
        }
        try w2.close()
        XCTAssertThrowsError(try WAL.open(dir: walDir, snapshot: WALSnapshot(index: 350, term: 9), options: opts)) {
            XCTAssertEqual($0 as? WALError, .snapshotNotFound(index: 350, term: 9))
        }
        XCTAssertThrowsError(try WAL.open(dir: walDir, snapshot: WALSnapshot(index: 5, term: 1), options: opts)) {
            guard case .missingSegment = $0 as? WALError else { return XCTFail("\($0)") }
        }
    }

    func testTornTailIsTruncated() throws {
        let wal = try WAL.create(dir: walDir, metadata: [], options: .init(segmentSize: 16 * 1024))
        try wal.append((1...10).map { .entry(entry($0)) })
        try wal.sync()
        try wal.append(.entry(entry(11, size: 300)))
        try wal.close()
        let seg = wal.segmentPaths[0]
        XCTAssertEqual(fileSize(seg), 16 * 1024, "segment is preallocated")
        // The crash tore the last record: its second half never reached the disk.
        let bytes = readAll(seg)
        let dataStart = find(bytes, [UInt8](repeating: 11, count: 300))!
        writeAt(seg, dataStart + 150, [UInt8](repeating: 0, count: 150))

        var (w2, got) = try WAL.open(dir: walDir, options: .init(segmentSize: 16 * 1024))
        XCTAssertEqual(got.entries.map(\.index), Array(1...10))
        try w2.append(.entry(entry(11, term: 2, size: 20)))
        try w2.close()
        (w2, got) = try WAL.open(dir: walDir, options: .init(segmentSize: 16 * 1024))
        XCTAssertEqual(got.entries.last, entry(11, term: 2, size: 20))
        XCTAssertEqual(got.entries.count, 11)

        // A partial header (a few bytes, then zeros) is torn too.
        try w2.close()
        let end = find(readAll(seg), [UInt8](repeating: 11, count: 20))! + 24
        writeAt(seg, end, [1, 2, 3, 4, 5])
        (w2, got) = try WAL.open(dir: walDir, options: .init(segmentSize: 16 * 1024))
        XCTAssertEqual(got.entries.count, 11)
    }

    func testCorruptMiddleRecordRefusesToStart() throws {
        let wal = try WAL.create(dir: walDir, metadata: [], options: .init(segmentSize: 64 * 1024))
        try wal.append((1...20).map { .entry(entry($0)) })
        try wal.close()
        let seg = wal.segmentPaths[0]
        let dataStart = find(readAll(seg), [UInt8](repeating: 5, count: 64))!
        writeAt(seg, dataStart + 10, [0xEE])
        XCTAssertThrowsError(try WAL.open(dir: walDir, options: .init(segmentSize: 64 * 1024))) { err in
            guard case let .corrupt(file, offset, reason)? = err as? WALError else { return XCTFail("\(err)") }
            XCTAssertEqual(file, seg)
            XCTAssertEqual(offset, dataStart - 17 - 12)
            XCTAssertEqual(reason, "crc mismatch")
            XCTAssertTrue("\(err)".contains(seg))
        }
    }

    func testCorruptionInAnOlderSegmentIsNeverTorn() throws {
        let opts = WAL.Options(segmentSize: 2048)
        let wal = try WAL.create(dir: walDir, metadata: [], options: opts)
        for i in 1...60 as ClosedRange<UInt64> { try wal.append(.entry(entry(i))) }
        try wal.close()
        let first = wal.segmentPaths[0]
        // Zero the end of the first segment's last record: in the tail segment this would pass for
        // a torn write, in a sealed segment it is damage.
        let size = fileSize(first)
        writeAt(first, size - 20, [UInt8](repeating: 0, count: 20))
        XCTAssertThrowsError(try WAL.open(dir: walDir, options: opts)) { err in
            guard case let .corrupt(file, _, _)? = err as? WALError else { return XCTFail("\(err)") }
            XCTAssertEqual(file, first)
        }
    }

    private func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}
