import Glibc
import Storage
import Synchronization
import XCTest

final class BackendSnapshotTests: XCTestCase {
    var dir: TestDir!
    override func setUp() { dir = TestDir() }
    override func tearDown() { dir.remove() }

    /// Every bucket's records, in order.
    func dump(_ b: Backend) throws -> [Bucket: [([UInt8], [UInt8])]] {
        let r = try b.read()
        defer { r.end() }
        var out: [Bucket: [([UInt8], [UInt8])]] = [:]
        for bucket in Bucket.allCases {
            var rows: [([UInt8], [UInt8])] = []
            try r.forEach(bucket) { k, v in
                rows.append(([UInt8](k), [UInt8](v)))
                return true
            }
            out[bucket] = rows
        }
        return out
    }

    func assertSame(_ a: [Bucket: [([UInt8], [UInt8])]], _ b: [Bucket: [([UInt8], [UInt8])]],
                    file: StaticString = #filePath, line: UInt = #line) {
        for bucket in Bucket.allCases {
            let x = a[bucket] ?? [], y = b[bucket] ?? []
            XCTAssertEqual(x.count, y.count, "bucket \(bucket.name)", file: file, line: line)
            XCTAssertTrue(x.elementsEqual(y) { $0.0 == $1.0 && $0.1 == $1.1 }, "bucket \(bucket.name)",
                          file: file, line: line)
        }
    }

    /// Fills every bucket, with enough records in `key` for a multi-level tree and some deletes
    /// (free pages for the compacting copy to leave out).
    func fill(_ b: Backend, tag: UInt8, count: Int) throws {
        try b.update { tx in
            for i in 0..<count {
                let k: [UInt8] = [UInt8(i >> 8), UInt8(i & 0xFF), tag]
                try tx.put(.key, k, [UInt8](repeating: tag, count: 100 + i % 50))
            }
            for bucket in Bucket.allCases where bucket != .key {
                for j in 0..<UInt8(5) { try tx.put(bucket, [tag, j], Array("\(bucket.name)-\(tag)-\(j)".utf8)) }
            }
        }
        try b.update { tx in
            for i in stride(from: 0, to: count, by: 3) { try tx.delete(.key, [UInt8(i >> 8), UInt8(i & 0xFF), tag]) }
        }
    }

    func testCopyThenReplaceIntoAnotherBackendGivesIdenticalBuckets() throws {
        let a = try Backend(path: dir.path + "/a")
        try fill(a, tag: 1, count: 3000)
        let b = try Backend(path: dir.path + "/b")
        try fill(b, tag: 2, count: 1000)
        try b.update { try $0.put(.alarm, [9, 9], [9]) }  // only in b: must go

        let copy = dir.path + "/snap.db"
        try a.copy(to: copy)
        XCTAssertFalse(FileManagerLite.exists(copy + ".tmp"))
        // Compacted: no bigger than the source file's pages in use.
        XCTAssertLessThanOrEqual(Int64(fileSize(copy)), a.size)

        // A reader on b that began before the replacement keeps its snapshot.
        let before = try b.read()
        let expected = try dump(a)
        let old = try dump(b)
        try b.replaceContents(withCopyAt: copy)
        assertSame(try dump(b), expected)
        var oldSeen: [([UInt8], [UInt8])] = []
        try before.forEach(.alarm) { k, v in oldSeen.append(([UInt8](k), [UInt8](v))); return true }
        XCTAssertTrue(oldSeen.elementsEqual(old[.alarm]!) { $0.0 == $1.0 && $0.1 == $1.1 })
        before.end()

        // The copy opens as a backend of its own too, with the same data.
        do {
            let c = try Backend(path: copy)
            assertSame(try dump(c), expected)
        }
    }

    func testReplacedDataIsDurableAcrossReopen() throws {
        let copy = dir.path + "/snap.db"
        do {
            let a = try Backend(path: dir.path + "/a")
            try fill(a, tag: 3, count: 500)
            try a.copy(to: copy)
        }
        let expected: [Bucket: [([UInt8], [UInt8])]]
        do {
            let a = try Backend(path: dir.path + "/a")
            expected = try dump(a)
        }
        do {
            let b = try Backend(path: dir.path + "/b")
            try fill(b, tag: 4, count: 200)
            try b.replaceContents(withCopyAt: copy)
            // Writes go on after the replacement.
            try b.update { try $0.put(.meta, [1], [1]) }
        }
        let b = try Backend(path: dir.path + "/b")
        var got = try dump(b)
        got[.meta] = got[.meta]!.filter { $0.0 != [1] }
        assertSame(got, expected)
    }

    func testCopyIsConsistentWhileTheWriterKeepsWriting() throws {
        let a = try Backend(path: dir.path + "/a")
        try a.update { tx in
            try tx.put(.meta, [0], [0, 0, 0, 0])
            try tx.put(.lease, [0], [0, 0, 0, 0])
        }
        let stop = StopFlag()
        // Every commit writes the same counter into two buckets; any consistent snapshot agrees.
        let writer = Thread {
            var i: UInt32 = 0
            while !stop.isSet && i < 4000 {
                i += 1
                let v = withUnsafeBytes(of: i.bigEndian) { [UInt8]($0) }
                try! a.update { tx in
                    try tx.put(.meta, [0], v)
                    for j in 0..<20 { try tx.put(.key, v + [UInt8(j)], [UInt8](repeating: 1, count: 200)) }
                    try tx.put(.lease, [0], v)
                }
            }
        }
        for n in 0..<4 {
            let copy = dir.path + "/snap\(n).db"
            try a.copy(to: copy)
            let c = try Backend(path: copy)
            let r = try c.read()
            let m = try r.get(.meta, [0]), l = try r.get(.lease, [0])
            XCTAssertEqual(m, l)
            var keys = 0
            try r.forEach(.key) { _, _ in keys += 1; return true }
            let counter = m!.reduce(0) { $0 << 8 | Int($1) }
            XCTAssertEqual(keys, counter * 20)
            r.end()
        }
        stop.set()
        writer.join()
    }

    func testInvalidCopiesAreRejectedAndChangeNothing() throws {
        let b = try Backend(path: dir.path + "/b")
        try fill(b, tag: 5, count: 300)
        let before = try dump(b)

        func expectInvalid(_ path: String, _ fragment: String, line: UInt = #line) {
            XCTAssertFalse(Backend.isValidCopy(at: path), line: line)
            XCTAssertThrowsError(try Backend.validateCopy(at: path), line: line)
            XCTAssertThrowsError(try b.replaceContents(withCopyAt: path), line: line) { error in
                guard case let .invalidCopy(p, reason)? = error as? StorageError else {
                    return XCTFail("not invalidCopy: \(error)", line: line)
                }
                XCTAssertEqual(p, path, line: line)
                XCTAssertTrue(reason.contains(fragment), "reason: \(reason)", line: line)
                XCTAssertTrue("\(error)".contains("not a valid backend copy"), line: line)
            }
        }

        expectInvalid(dir.path + "/missing", "cannot stat")
        let empty = dir.path + "/empty"
        writeFile(empty, [])
        expectInvalid(empty, "empty")
        let garbage = dir.path + "/garbage"
        writeFile(garbage, (0..<(64 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        expectInvalid(garbage, "LMDB")
        expectInvalid(dir.path, "not a regular file")

        // A real copy, cut short (a transfer that stopped midway).
        let a = try Backend(path: dir.path + "/a")
        try fill(a, tag: 6, count: 3000)
        let copy = dir.path + "/snap.db"
        try a.copy(to: copy)
        XCTAssertTrue(Backend.isValidCopy(at: copy))
        let full = readAll(copy)
        let truncated = dir.path + "/truncated"
        writeFile(truncated, Array(full[..<(full.count / 2)]))
        expectInvalid(truncated, "truncated")

        assertSame(try dump(b), before)
        // The good copy still installs afterwards.
        try b.replaceContents(withCopyAt: copy)
        assertSame(try dump(b), try dump(a))
    }

    func testMapTooSmallThrowsMapFullAndChangesNothingUnlessGrown() throws {
        let a = try Backend(path: dir.path + "/a", options: .init(quotaBytes: 32 << 20))
        try a.update { tx in
            for i in 0..<6000 { try tx.put(.key, [UInt8(i >> 8), UInt8(i & 0xFF)], [UInt8](repeating: 3, count: 1000)) }
        }
        let copy = dir.path + "/snap.db"
        try a.copy(to: copy)
        let b = try Backend(path: dir.path + "/b", options: .init(quotaBytes: 4 << 20))
        try b.update { try $0.put(.key, [1], [1]) }
        let mapBefore = b.mapSize
        XCTAssertThrowsError(try b.replaceContents(withCopyAt: copy)) {
            XCTAssertEqual($0 as? StorageError, .mapFull)
        }
        XCTAssertEqual(try b.read().get(.key, [1]), [1])
        XCTAssertEqual(b.mapSize, mapBefore)
        // With growMap (nothing else open) the map grows to fit and the copy installs.
        try b.replaceContents(withCopyAt: copy, growMap: true)
        XCTAssertGreaterThan(b.mapSize, mapBefore)
        assertSame(try dump(b), try dump(a))
    }
}

/// A flag set by one thread and read by another.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

enum FileManagerLite {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}
