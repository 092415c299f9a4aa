import Foundation
import Storage
import XCTest

@testable import Bbolt

/// Reads Fixtures/etcd.db, a snapshot real etcd 3.4 wrote (tools/make-bbolt-fixtures.sh), and
/// checks it against what `etcdctl snapshot status` said about the same file.
final class ReaderTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    var fixture: String { Self.fixtures.appendingPathComponent("etcd.db").path }

    struct Status: Decodable { let hash: UInt32; let revision: Int64; let totalKey: Int; let totalSize: Int }

    func status() throws -> Status {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("etcd.status.json"))
        return try JSONDecoder().decode(Status.self, from: data)
    }

    func testEtcdSnapshotMatchesEtcdctlStatus() throws {
        let db = try BboltFile(path: fixture)
        let st = try status()
        XCTAssertEqual(db.pageSize, 4096)
        XCTAssertEqual(Int(db.pageCount) * db.pageSize, st.totalSize)
        // The same walk as etcdctl's snapshot status: CRC-32C over bucket names, keys, values.
        var crc: UInt32 = 0, total = 0, revision: Int64 = 0
        for name in try db.bucketNames(in: []) {
            crc = CRC32C.update(crc, name)
            try db.forEach(bucketPath: [name]) { e in
                crc = CRC32C.update(crc, e.key)
                crc = CRC32C.update(crc, e.value)
                total += 1
                if name == Array("key".utf8) { revision = Self.mainRevision(e.key) }
            }
        }
        XCTAssertEqual(crc, st.hash)
        XCTAssertEqual(total, st.totalKey)
        XCTAssertEqual(revision, st.revision)
    }

    func testEtcdBucketsAndContents() throws {
        let db = try BboltFile(path: fixture)
        let names = try db.bucketNames
        for b in ["alarm", "auth", "authRoles", "authUsers", "cluster", "key", "lease", "members", "members_removed", "meta"] {
            XCTAssertTrue(names.contains(b), "missing bucket \(b) in \(names)")
        }
        XCTAssertEqual(names, names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        // key: 17-byte revisions in increasing order, values holding the fixture's data.
        var previous: [UInt8] = []
        var values: [[UInt8]] = []
        try db.forEach(bucket: "key") { k, v in
            XCTAssertEqual(k.count, 17)
            XCTAssertTrue(previous.lexicographicallyPrecedes(k))
            previous = k
            values.append(v)
        }
        XCTAssertTrue(values.contains { Self.contains($0, "value-42-000") })
        XCTAssertTrue(values.contains { Self.contains($0, "leased") })
        // meta: the compaction the script made, and a consistent index.
        let finished = try XCTUnwrap(db.get(bucket: "meta", key: Array("finishedCompactRev".utf8)))
        XCTAssertEqual(Self.mainRevision(finished), 6)
        XCTAssertEqual(try db.get(bucket: "meta", key: Array("consistent_index".utf8))?.count, 8)
        // lease: the one granted, keyed by its id.
        let leaseHex = try String(contentsOf: Self.fixtures.appendingPathComponent("etcd.lease"), encoding: .utf8)
        let id = try XCTUnwrap(UInt64(leaseHex.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16))
        var leases: [[UInt8]] = []
        try db.forEach(bucket: "lease") { k, _ in leases.append(k) }
        XCTAssertEqual(leases, [withUnsafeBytes(of: id.bigEndian) { Array($0) }])
        XCTAssertNotNil(try db.get(bucket: "authUsers", key: Array("root".utf8)))
        XCTAssertNotNil(try db.get(bucket: "authRoles", key: Array("reader".utf8)))
        XCTAssertThrowsError(try db.forEach(bucket: "nope") { _, _ in }) {
            XCTAssertEqual(($0 as? BboltError)?.kind, .bucketNotFound)
        }
        XCTAssertEqual(try db.freePages().count, Set(try db.freePages()).count)
    }

    // MARK: bad input

    func testMissingFileIsAnIOError() {
        XCTAssertThrowsError(try BboltFile(path: "/nonexistent/bbolt.db")) {
            XCTAssertEqual(($0 as? BboltError)?.kind, .io)
        }
    }

    func testTruncatedFilesThrow() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture)))
        let pages = bytes.count / 4096
        for cut in [0, 10, 80, 4096, 4096 + 100, 8192, 3 * 4096 + 17, (pages - 1) * 4096, bytes.count - 4096 - 32] {
            let path = try write(Array(bytes[..<cut]))
            XCTAssertThrowsError(try readAll(path), "cut at \(cut)")
        }
    }

    func testBadMetaFallsBackThenFails() throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture)))
        let good = try BboltFile(path: fixture)
        // Break the checksum of the meta bbolt chose: the other one is used, as bbolt does.
        let m1 = bytes.withUnsafeBytes { BboltFile.parseMeta($0, at: 4096) }
        let chosenPage = m1?.txid == good.txid ? 1 : 0
        bytes[chosenPage * 4096 + 16 + 60] ^= 0xFF
        let fallback = try BboltFile(path: try write(bytes))
        XCTAssertEqual(fallback.txid, good.txid - 1)
        // Both broken: no valid meta.
        bytes[(1 - chosenPage) * 4096 + 16 + 60] ^= 0xFF
        XCTAssertThrowsError(try BboltFile(path: try write(bytes))) {
            XCTAssertEqual(($0 as? BboltError)?.kind, .invalidMeta)
        }
    }

    /// Random byte damage anywhere in the data pages: every read ends in a result or a BboltError.
    func testRandomCorruptionNeverCrashes() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture)))
        var rng = SplitMix(seed: 12)
        var failures = 0
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<Int(rng.next() % 8 + 1) {
                let at = 2 * 4096 + Int(rng.next() % UInt64(original.count - 2 * 4096))
                bytes[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            do { try readAll(try write(bytes)) } catch is BboltError { failures += 1 }
        }
        XCTAssertGreaterThan(failures, 0)
    }

    // MARK: helpers

    /// Walks every bucket, nested ones too, as a reader of an unknown file would.
    func readAll(_ path: String) throws {
        let db = try BboltFile(path: path)
        func visit(_ path: [[UInt8]], depth: Int) throws {
            var nested: [[UInt8]] = []
            try db.forEach(bucketPath: path) { e in if e.isBucket { nested.append(e.key) } }
            if depth < 4 { for n in nested { try visit(path + [n], depth: depth + 1) } }
        }
        try visit([], depth: 0)
        _ = try db.freePages()
    }

    var scratch: URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bbolt-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    func write(_ bytes: [UInt8]) throws -> String {
        let url = scratch.appendingPathComponent("t.db")
        try Data(bytes).write(to: url)
        return url.path
    }

    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    static func mainRevision(_ k: [UInt8]) -> Int64 {
        k.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }

    static func contains(_ hay: [UInt8], _ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard hay.count >= n.count else { return false }
        return (0...(hay.count - n.count)).contains { hay[$0..<($0 + n.count)].elementsEqual(n) }
    }
}

/// A small seeded generator so damage is reproducible.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
