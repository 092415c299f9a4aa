@testable import MVCC
import Storage
import XCTest

final class WriteBatchTests: XCTestCase {
    func testBatchOfTransactionsCommitsOnceWithOwnRevisions() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        do {
            let batch = try s.beginBatch()
            let (_, e1) = try batch.write { (t) throws(MVCCError) in
                try t.put(b("a"), b("1"))
                t.setConsistentIndex(10)
            }
            XCTAssertEqual(e1.map(\.kv.modRevision), [2])
            // A transaction that changes nothing takes no revision.
            try batch.write { (t) throws(MVCCError) in t.setConsistentIndex(11) }
            let (seen, e3) = try batch.write { (t) throws(MVCCError) -> RangeResult in
                let r = try t.range(b("a"))
                try t.deleteRange(b("a"))
                try t.put(b("b"), b("2"))
                t.setConsistentIndex(12)
                return r
            }
            XCTAssertEqual(seen.kvs.map(\.value), [b("1")], "later transactions see earlier ones")
            XCTAssertEqual(e3.map(\.kv.modRevision), [3, 3])
            XCTAssertEqual(batch.rev, 3)
            // Readers see nothing until the batch commits.
            XCTAssertEqual(s.currentRevision, 1)
            XCTAssertEqual(try s.get("\0", "\0").count, 0)
            try batch.commit()
        }
        XCTAssertEqual(s.currentRevision, 3)
        XCTAssertEqual(s.consistentIndex, 12)
        XCTAssertEqual(s.keys(try s.get("\0", "\0")), ["b"])
        XCTAssertEqual(try s.get("a", "", .init(rev: 2)).kvs[0].value, b("1"))
        try f.reopen()
        XCTAssertEqual(s.currentRevision, 3)
        XCTAssertEqual(s.consistentIndex, 12)
        XCTAssertEqual(try s.get("b").kvs[0].modRevision, 3)
    }

    func testMemberRollbackDropsOnlyItsOwnChanges() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        do {
            let batch = try s.beginBatch()
            try batch.write { (t) throws(MVCCError) in try t.put(b("a"), b("1")) }
            XCTAssertThrowsError(try batch.write { (t) throws(MVCCError) in
                try t.put(b("b"), b("1"))
                try t.put(b("a"), b("x"))
                throw MVCCError.corrupt("give up")
            })
            try batch.write { (t) throws(MVCCError) in try t.put(b("c"), b("1")) }
            try batch.commit()
        }
        XCTAssertEqual(s.currentRevision, 3)
        let all = try s.get("\0", "\0")
        XCTAssertEqual(s.keys(all), ["a", "c"])
        XCTAssertEqual(all.kvs.map(\.modRevision), [2, 3])
        XCTAssertEqual(all.kvs[0].version, 1)
    }

    func testAbortDropsTheWholeBatch() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        try s.put("a", "1")
        do {
            let batch = try s.beginBatch()
            try batch.write { (t) throws(MVCCError) in try t.put(b("a"), b("2")) }
            try batch.write { (t) throws(MVCCError) in try t.deleteRange(b("a")) }
            try batch.write { (t) throws(MVCCError) in try t.put(b("n"), b("1")) }
            batch.abort()
        }
        XCTAssertEqual(s.currentRevision, 2)
        XCTAssertEqual(s.keys(try s.get("\0", "\0")), ["a"])
        XCTAssertEqual(try s.get("a").kvs[0].version, 1)
        XCTAssertEqual(try s.put("b", "1"), 3)
        XCTAssertEqual(try s.get("a").kvs[0].value, b("1"))
    }

    func testMapFullInOneMemberLeavesTheRestOfTheBatch() throws {
        let f = try StoreFixture()
        f.store = nil
        f.backend = try Backend(path: f.dir + "/small", options: .init(quotaBytes: 1 << 20))
        let s = try KVStore(backend: f.backend)
        let batch = try s.beginBatch()
        try batch.write { (t) throws(MVCCError) in try t.put(b("a"), b("1")) }
        let big = [UInt8](repeating: 1, count: 64 * 1024)
        XCTAssertThrowsError(try batch.write { (t) throws(MVCCError) in
            for i in 0..<40 { try t.put(b("big\(i)"), big) }
        }) { XCTAssertEqual($0 as? MVCCError, .storage(.mapFull)) }
        try batch.write { (t) throws(MVCCError) in try t.put(b("c"), b("1")) }
        try batch.commit()
        XCTAssertEqual(s.keys(try s.get("\0", "\0")), ["a", "c"])
        XCTAssertEqual(s.currentRevision, 3)
    }
}
