@testable import MVCC
import Storage
import XCTest

final class ConcurrencyTests: XCTestCase {
    /// Each write transaction adds key k/<n> and sets counter = n. Any view must show exactly
    /// n + 1 keys under k/ for the counter it sees, whatever the writer and compaction are doing.
    func testReadersSeeConsistentSnapshotsDuringWrites() throws {
        let f = try StoreFixture(options: .init(compactionBatchLimit: 7))
        var s: KVStore { f.store }
        try s.write { (txn) throws(MVCCError) in
            try txn.put(b("k/0000"), b("0"))
            try txn.put(b("counter"), b("0"))
        }
        let readers = (0..<3).map { _ in
            TestThread {
                var checked = 0
                while checked < 400 {
                    do {
                        let v = try s.read()
                        let n = Int(String(decoding: try v.range(b("counter")).kvs[0].value, as: UTF8.self))!
                        let keys = try v.range(b("k/"), b("k0"), options: .init(countOnly: true))
                        precondition(keys.count == n + 1, "view at \(v.rev): counter \(n) but \(keys.count) keys")
                        precondition(keys.rev == v.rev)
                        v.end()
                        checked += 1
                    } catch MVCCError.compacted {
                        continue
                    } catch {
                        preconditionFailure("\(error)")
                    }
                }
            }
        }
        for n in 1...400 {
            let key = "k/" + String(repeating: "0", count: 4 - String(n).count) + String(n)
            try s.write { (txn) throws(MVCCError) in
                try txn.put(b(key), b("\(n)"))
                try txn.put(b("counter"), b("\(n)"))
            }
            if n % 50 == 0 { try s.compact(s.currentRevision - 5) }
        }
        readers.forEach { $0.join() }
        XCTAssertEqual(try s.get("k/", "k0", .init(countOnly: true)).count, 401)
    }

    /// Views opened and used from tasks that may hop threads (MDB_NOTLS), while a thread writes.
    func testReadsFromManyTasksWhileWriting() async throws {
        let f = try StoreFixture()
        let s: KVStore = f.store  // KVStore is Sendable; this test never reopens
        try s.put("a", "0")
        let writer = TestThread {
            for i in 1...300 { _ = try! s.put("a", "\(i)") }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<100 {
                        let v = try s.read()
                        let kv = try v.range(b("a")).kvs[0]
                        await Task.yield()
                        // Still the same snapshot after a possible thread hop.
                        XCTAssertEqual(try v.range(b("a")).kvs[0], kv)
                        XCTAssertEqual(kv.modRevision, kv.version + 1)
                        v.end()
                    }
                }
            }
            try await group.waitForAll()
        }
        writer.join()
        XCTAssertEqual(s.currentRevision, 302)
    }

    /// 100,000 keys: batched puts, single puts, a full range, compaction and a restart all
    /// complete (no timing assertion).
    func testHundredThousandKeys() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        let value = [UInt8](repeating: 0x61, count: 64)
        func key(_ i: Int) -> [UInt8] { Array("key-\(i * 7919 % 100_000)".utf8) }
        for batch in 0..<90 {
            try s.write { (txn) throws(MVCCError) in
                for i in (batch * 1000)..<((batch + 1) * 1000) { try txn.put(key(i), value) }
            }
        }
        for i in 90_000..<100_000 {
            let txn = try s.write()
            try txn.put(key(i), value)
            try txn.end()
        }
        XCTAssertEqual(s.currentRevision, 1 + 90 + 10_000)
        let all = try s.get("\0", "\0", .init(countOnly: true))
        XCTAssertEqual(all.count, 100_000)
        let page = try s.get("key-", "key.", .init(limit: 10))
        XCTAssertEqual(page.kvs.count, 10)
        XCTAssertEqual(page.count, 100_000)
        XCTAssertEqual(s.keys(page).first, "key-0")
        try s.write { (txn) throws(MVCCError) in
            for i in 0..<1000 { try txn.put(key(i), value) }
        }
        try s.compact(s.currentRevision)
        try f.reopen()
        XCTAssertEqual(try f.store.get("\0", "\0", .init(countOnly: true)).count, 100_000)
        XCTAssertEqual(f.store.currentRevision, 1 + 90 + 10_000 + 1)
    }

    /// Writers on two threads (outside the one-writer model, but it must stay correct): every
    /// transaction gets its own revision.
    func testWritersOnTwoThreadsNeverShareARevision() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        let threads = (0..<2).map { t in
            TestThread { for i in 0..<200 { _ = try! s.put("t\(t)-\(i)", "v") } }
        }
        threads.forEach { $0.join() }
        XCTAssertEqual(s.currentRevision, 401)
        let mods = Set(try s.get("\0", "\0").kvs.map(\.modRevision))
        XCTAssertEqual(mods.count, 400)
    }

    /// A compaction interrupted after it was scheduled is finished at the next open.
    func testInterruptedCompactionResumesAtOpen() throws {
        let f = try StoreFixture()
        try f.store.put("a", "1")
        try f.store.put("a", "2")
        try f.store.put("a", "3")
        try f.backend.update { tx in try tx.put(.meta, MetaKey.scheduledCompact, Revision(main: 3).keyBytes()) }
        try f.reopen()
        XCTAssertEqual(f.store.compactedRevision, 3)
        XCTAssertThrowsError(try f.store.get("a", "", .init(rev: 2))) { XCTAssertEqual($0 as? MVCCError, .compacted) }
        var n = 0
        try f.backend.read().forEach(.key) { _, _ in n += 1; return true }
        XCTAssertEqual(n, 2)
    }
}
