import Bbolt
import Foundation
import Glibc
import Storage
import Synchronization
import XCTest

/// `Backend.exportBbolt`: etcd's buckets, byte for byte, from one read transaction.
final class BackendBboltTests: XCTestCase {
    var dir: TestDir!
    override func setUp() { dir = TestDir() }
    override func tearDown() { dir.remove() }

    func rows(_ b: Backend, _ bucket: Bucket) throws -> [[UInt8]] {
        let r = try b.read()
        defer { r.end() }
        var out: [[UInt8]] = []
        try r.forEach(bucket) { k, v in
            out.append([UInt8](k) + [0xFF] + [UInt8](v))
            return true
        }
        return out
    }

    func exported(_ path: String, _ bucket: Bucket) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        try BboltFile(path: path).forEach(bucket: bucket.name) { out.append($0 + [0xFF] + $1) }
        return out
    }

    func testExportHoldsEveryBucketButPrivateMetaKeys() throws {
        let b = try Backend(path: dir.path + "/db")
        try b.update { tx in
            for i in 0..<5000 {
                var rev = withUnsafeBytes(of: UInt64(i + 1).bigEndian) { Array($0) }
                rev += [0x5F] + [UInt8](repeating: 0, count: 8)
                try tx.put(.key, rev, [UInt8](repeating: UInt8(i & 0xFF), count: i % 300))
            }
            try tx.put(.meta, Array("consistent_index".utf8), [0, 0, 0, 0, 0, 0, 0, 42])
            try tx.put(.meta, Array("etcd-swift-wal-snapshot".utf8), [1, 2, 3])
            try tx.put(.members, Array("8e9e05c52164694d".utf8), Array("{\"id\":1}".utf8))
            try tx.put(.cluster, Array("clusterVersion".utf8), Array("3.4.0".utf8))
        }
        let path = dir.path + "/export.db"
        let size = try b.exportBbolt(to: path)
        let file = try BboltFile(path: path)
        XCTAssertEqual(Int64(file.fileSize), size)
        XCTAssertEqual(try file.bucketNames.sorted(), Bucket.allCases.map(\.name).sorted())
        for bucket in Bucket.allCases where bucket != .meta {
            XCTAssertEqual(try exported(path, bucket), try rows(b, bucket), bucket.name)
        }
        var meta: [String] = []
        try file.forEach(bucket: "meta") { k, _ in meta.append(String(decoding: k, as: UTF8.self)) }
        XCTAssertEqual(meta, ["consistent_index"])
    }

    /// Writes keep landing while the export runs: the file is the state when it began.
    func testExportIsOneConsistentSnapshot() throws {
        let b = try Backend(path: dir.path + "/db")
        try b.update { tx in for i in 0..<2000 { try tx.put(.key, Self.key(i), [UInt8](repeating: 1, count: 200)) } }
        let expected = try rows(b, .key)
        let stop = Atomic<Bool>(false)
        let writes = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var i = 2000
            while !stop.load(ordering: .relaxed) {
                try? b.update { tx in
                    try tx.put(.key, Self.key(i), [2])
                    _ = try tx.delete(.key, Self.key(i - 2000))
                }
                i += 1
                writes.add(1, ordering: .relaxed)
            }
            done.signal()
        }
        defer {
            stop.store(true, ordering: .relaxed)
            done.wait()
        }
        while writes.load(ordering: .relaxed) == 0 { usleep(1000) }  // the writer is running
        for n in 0..<5 {
            let path = dir.path + "/export\(n).db"
            try b.exportBbolt(to: path)
            let got = try exported(path, .key)
            // Every export is some committed state: each write adds one key and drops the oldest, so
            // a torn view would show another count.
            XCTAssertEqual(got.count, expected.count)
        }
        XCTAssertNotEqual(try rows(b, .key), expected)
    }

    func testExportToABadPathIsAnError() throws {
        let b = try Backend(path: dir.path + "/db")
        XCTAssertThrowsError(try b.exportBbolt(to: dir.path + "/missing/dir/x.db"))
    }

    static func key(_ i: Int) -> [UInt8] { withUnsafeBytes(of: UInt64(i).bigEndian) { Array($0) } }
}

/// A measurement, not a check: run with BBOLT_EXPORT_MB=256 to export a backend of that size and
/// print the time and the peak of anonymous memory (heap) sampled during the export.
final class BackendBboltMeasure: XCTestCase {
    func testMeasureLargeExport() throws {
        guard let mb = ProcessInfo.processInfo.environment["BBOLT_EXPORT_MB"].flatMap(Int.init) else {
            throw XCTSkip("set BBOLT_EXPORT_MB to measure")
        }
        let dir = TestDir()
        defer { dir.remove() }
        let b = try Backend(path: dir.path + "/db", options: .init(quotaBytes: mb * 3 << 20))
        let value = [UInt8](repeating: 7, count: 1000)
        for batch in 0..<mb {
            try b.update { tx in
                for i in 0..<1000 { try tx.put(.key, BackendBboltTests.key(batch * 1000 + i), value) }
            }
        }
        let peak = Atomic<Int>(0), stop = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            while !stop.load(ordering: .relaxed) {
                let rss = Self.rssAnonKB()
                if rss > peak.load(ordering: .relaxed) { peak.store(rss, ordering: .relaxed) }
                usleep(2000)
            }
            done.signal()
        }
        let before = Self.rssAnonKB()
        let start = ContinuousClock.now
        let size = try b.exportBbolt(to: dir.path + "/export.db")
        let took = ContinuousClock.now - start
        stop.store(true, ordering: .relaxed)
        done.wait()
        print("bbolt export: \(size >> 20) MiB in \(took); anonymous memory \(before / 1024) MiB before, peak \(peak.load(ordering: .relaxed) / 1024) MiB during")
    }

    static func rssAnonKB() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix("RssAnon:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }
}
