import Glibc
import Storage
import XCTest

final class BackendTests: XCTestCase {
    var dir: TestDir!
    override func setUp() { dir = TestDir() }
    override func tearDown() { dir.remove() }

    func testBucketsAreSeparateAndPersist() throws {
        do {
            let b = try Backend(path: dir.path + "/db")
            try b.update { tx in
                for bucket in Bucket.allCases { try tx.put(bucket, [1, 2], Array(bucket.name.utf8)) }
                try tx.put(.key, [9], [9, 9])
            }
            try b.sync()
        }
        let b = try Backend(path: dir.path + "/db")
        let r = try b.read()
        for bucket in Bucket.allCases {
            XCTAssertEqual(try r.get(bucket, [1, 2]), Array(bucket.name.utf8))
        }
        XCTAssertEqual(try r.get(.meta, [9]), nil)
        XCTAssertEqual(Bucket.membersRemoved.name, "members_removed")
        XCTAssertGreaterThan(b.size, 0)
        XCTAssertGreaterThan(b.sizeInUse, 0)
        XCTAssertLessThanOrEqual(b.sizeInUse, b.size)
        XCTAssertEqual(b.highWaterBytes, b.size, "the page mark is the file's length")
        try b.update { tx in for i in 0..<2000 { try tx.put(.key, Array("k\(i)".utf8), [UInt8](repeating: 7, count: 300)) } }
        XCTAssertEqual(b.highWaterBytes, b.size, "the page mark follows the file as it grows")
    }

    func testRangeScanDeleteAndSeqPut() throws {
        let b = try Backend(path: dir.path + "/db")
        try b.update { tx in
            for i in (0..<100).reversed() { try tx.seqPut(.key, [0, UInt8(i)], [UInt8(i)]) }
            XCTAssertTrue(try tx.delete(.key, [0, 50]))
            XCTAssertFalse(try tx.delete(.key, [0, 50]))
        }
        let r = try b.read()
        var seen: [UInt8] = []
        try r.forEach(.key, from: [0, 40], to: [0, 60]) { k, v in
            XCTAssertEqual(k[1], v[0])
            seen.append(v[0])
            return true
        }
        XCTAssertEqual(seen, Array(40..<50) + Array(51..<60))
        var n = 0
        try r.forEach(.key) { _, _ in n += 1; return n < 10 }
        XCTAssertEqual(n, 10)
    }

    func testReaderSnapshotIsolatedFromConcurrentWriter() throws {
        let b = try Backend(path: dir.path + "/db")
        try b.update { try $0.put(.key, [1], [1]) }
        let snapshot = try b.read()
        // A writer on another thread commits while the snapshot is open; the reader does not block
        // it and keeps seeing the old value.
        let t = Thread { try! b.update { try $0.put(.key, [1], [2]) } }
        t.join()
        XCTAssertEqual(try snapshot.get(.key, [1]), [1])
        snapshot.end()
        XCTAssertEqual(try b.read().get(.key, [1]), [2])
    }

    func testManyConcurrentReadersDuringWrites() throws {
        let b = try Backend(path: dir.path + "/db")
        try b.update { try $0.put(.key, [0], [0, 0, 0, 0]) }
        let readers = (0..<4).map { _ in
            Thread {
                for _ in 0..<300 {
                    let r = try! b.read()
                    let v = try! r.get(.key, [0])!
                    // Every snapshot holds one whole commit: all four bytes agree.
                    precondition(Set(v).count == 1, "torn read \(v)")
                }
            }
        }
        for i in 1...200 { try b.update { try $0.put(.key, [0], [UInt8](repeating: UInt8(i), count: 4)) } }
        readers.forEach { $0.join() }
    }

    func testMapFullIsTypedAndLeavesOldDataIntact() throws {
        let b = try Backend(path: dir.path + "/db", options: .init(quotaBytes: 1 << 20))
        try b.update { try $0.put(.key, [0], [1]) }
        XCTAssertThrowsError(try b.update { tx in
            for i in 0..<4096 { try tx.put(.key, [1, UInt8(i >> 8), UInt8(i & 0xFF)], [UInt8](repeating: 7, count: 1024)) }
        }) { XCTAssertEqual($0 as? StorageError, .mapFull) }
        XCTAssertEqual(try b.read().get(.key, [0]), [1])
        XCTAssertEqual(try b.read().get(.key, [1, 0, 0]), nil)
        // Growing the map (no transaction open) makes room again.
        try b.setMapSize(16 << 20)
        try b.update { tx in
            for i in 0..<4096 { try tx.put(.key, [1, UInt8(i >> 8), UInt8(i & 0xFF)], [UInt8](repeating: 7, count: 1024)) }
        }
    }
}

/// A joinable pthread running a closure (tests only). `@unchecked Sendable`: `body` is set once
/// before the thread starts and `tid` is only read by `join()` after `pthread_create` wrote it.
final class Thread: @unchecked Sendable {
    private var tid = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
        let ctx = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&tid, nil, { ctx in
            let me = Unmanaged<Thread>.fromOpaque(ctx!).takeRetainedValue()
            me.body()
            return nil
        }, ctx)
    }

    func join() { pthread_join(tid, nil) }
}
