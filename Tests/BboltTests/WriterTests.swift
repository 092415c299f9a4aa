import Foundation
import XCTest

@testable import Bbolt

/// The writer's files read back exactly, and real bbolt (through etcdctl) accepts them.
final class WriterTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("bbolt-writer-\(getpid())-\(name.hashValue)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    typealias Buckets = [(name: String, entries: [([UInt8], [UInt8])])]

    func write(_ buckets: Buckets, to file: String) throws -> BboltWriter {
        let w = try BboltWriter(path: file)
        for b in buckets {
            try w.beginBucket(b.name)
            for (k, v) in b.entries { try w.put(k, v) }
            try w.endBucket()
        }
        try w.finish()
        return w
    }

    func readBack(_ file: String) throws -> [String: [([UInt8], [UInt8])]] {
        let db = try BboltFile(path: file)
        var out: [String: [([UInt8], [UInt8])]] = [:]
        for name in try db.bucketNames {
            var entries: [([UInt8], [UInt8])] = []
            try db.forEach(bucket: name) { entries.append(($0, $1)) }
            out[name] = entries
        }
        return out
    }

    /// Random data shaped to exercise every path: an empty bucket, one key, tiny values, values
    /// spanning several pages, and enough keys for a three-level tree.
    func testRoundTrip() throws {
        var rng = SplitMix(seed: 7)
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        func sortedKeys(_ n: Int, length: ClosedRange<Int>) -> [[UInt8]] {
            var set = Set<[UInt8]>()
            while set.count < n { set.insert(bytes(length.lowerBound + Int(rng.next() % UInt64(length.count)))) }
            return set.sorted { $0.lexicographicallyPrecedes($1) }
        }
        let buckets: Buckets = [
            ("key", sortedKeys(30000, length: 17...17).map { ($0, bytes(Int(rng.next() % 60))) }),
            ("empty", []),
            ("one", [([1], [2])]),
            ("big", sortedKeys(5, length: 1...40).enumerated().map { ($1, bytes([0, 1, 4095, 4096, 20000][$0])) }),
            ("longkeys", sortedKeys(300, length: 500...3000).map { ($0, bytes(10)) }),
            ("a", [([0], [])]),
        ]
        let file = dir.appendingPathComponent("rt.db").path
        let w = try write(buckets, to: file)
        let back = try readBack(file)
        XCTAssertEqual(Set(back.keys), Set(buckets.map(\.name)))
        for b in buckets {
            let got = try XCTUnwrap(back[b.name])
            XCTAssertEqual(got.count, b.entries.count, b.name)
            XCTAssertTrue(zip(got, b.entries).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }, b.name)
        }
        let db = try BboltFile(path: file)
        XCTAssertEqual(db.pageCount, w.pageCount)
        XCTAssertEqual(db.fileSize, Int(db.pageCount) * 4096)
        XCTAssertEqual(try db.freePages(), [])
        // 30000 leaf entries of ~60 bytes make hundreds of leaves: a branch level must exist.
        XCTAssertGreaterThan(db.pageCount, 500)
        // Small buckets live inline in the root bucket (root page 0), as bbolt keeps them.
        var roots: [String: UInt64] = [:]
        try db.forEach(bucketPath: []) { e in
            roots[String(decoding: e.key, as: UTF8.self)] = e.value.prefix(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        XCTAssertEqual(roots["empty"], 0)
        XCTAssertEqual(roots["one"], 0)
        XCTAssertEqual(roots["a"], 0)
        XCTAssertNotEqual(roots["key"], 0)
        XCTAssertNotEqual(roots["big"], 0)
        // Real bbolt's tx.Check (run by etcdctl) finds every page reachable and none twice.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/etcdctl") {
            XCTAssertEqual(try etcdctlStatus(file)["totalKey"] as? Int, buckets.reduce(0) { $0 + $1.entries.count })
        }
    }

    func testMisuseIsAnError() throws {
        let w = try BboltWriter(path: dir.appendingPathComponent("m.db").path)
        func misuse(_ body: () throws -> Void) {
            XCTAssertThrowsError(try body()) { XCTAssertEqual(($0 as? BboltError)?.kind, .misuse) }
        }
        misuse { try w.put([1], [1]) }
        try w.beginBucket("b")
        misuse { try w.beginBucket("c") }
        try w.put([2], [])
        misuse { try w.put([2], []) }
        misuse { try w.put([1], []) }
        misuse { try w.put([], []) }
        misuse { try w.finish() }
        try w.endBucket()
        misuse { try w.beginBucket("b") }
        try w.finish()
        misuse { try w.beginBucket("d") }
    }

    /// Copies real etcd's snapshot through the writer; etcdctl (bbolt's tx.Check plus its hash)
    /// must report the same hash, revision and key count as for the original.
    func testEtcdctlAcceptsRewrittenSnapshot() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/etcdctl") else { throw XCTSkip("no etcdctl") }
        let original = try BboltFile(path: ReaderTests.fixtures.appendingPathComponent("etcd.db").path)
        let file = dir.appendingPathComponent("copy.db").path
        let w = try BboltWriter(path: file)
        for name in try original.bucketNames {
            try w.beginBucket(name)
            try original.forEach(bucket: name) { try w.put($0, $1) }
            try w.endBucket()
        }
        try w.finish()
        // No more pages than etcd's own file (which may also hold free pages).
        XCTAssertLessThanOrEqual(try BboltFile(path: file).pageCount, original.pageCount)
        let ours = try etcdctlStatus(file)
        let theirs = try etcdctlStatus(ReaderTests.fixtures.appendingPathComponent("etcd.db").path)
        XCTAssertEqual(ours["hash"] as? Int, theirs["hash"] as? Int)
        XCTAssertEqual(ours["revision"] as? Int, theirs["revision"] as? Int)
        XCTAssertEqual(ours["totalKey"] as? Int, theirs["totalKey"] as? Int)
    }

    func etcdctlStatus(_ file: String) throws -> [String: Any] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/etcdctl")
        p.arguments = ["snapshot", "status", file, "-w", "json"]
        p.environment = ["ETCDCTL_API": "3"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, errText)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], errText)
    }
}
