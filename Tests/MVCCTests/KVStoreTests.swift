@testable import MVCC
import Storage
import XCTest

final class KVStoreTests: XCTestCase {
    func testFreshStoreStartsAtRevisionOne() throws {
        let f = try StoreFixture()
        XCTAssertEqual(f.store.currentRevision, 1)
        XCTAssertEqual(f.store.compactedRevision, -1)
        XCTAssertEqual(f.store.consistentIndex, 0)
        let r = try f.store.get("a")
        XCTAssertEqual(r, RangeResult(kvs: [], count: 0, rev: 1))
    }

    /// put, put again, delete, re-put: etcd's create/mod/version arithmetic.
    func testRevisionArithmetic() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        XCTAssertEqual(try s.put("foo", "v1"), 2)
        var kv = try s.get("foo").kvs[0]
        XCTAssertEqual([kv.createRevision, kv.modRevision, kv.version], [2, 2, 1])
        XCTAssertEqual(try s.put("foo", "v2"), 3)
        kv = try s.get("foo").kvs[0]
        XCTAssertEqual([kv.createRevision, kv.modRevision, kv.version], [2, 3, 2])
        XCTAssertEqual(kv.value, b("v2"))
        XCTAssertEqual(try s.delete("foo"), 1)
        XCTAssertEqual(s.currentRevision, 4)
        XCTAssertEqual(try s.get("foo").count, 0)
        XCTAssertEqual(try s.put("foo", "v3", lease: 7), 5)
        kv = try s.get("foo").kvs[0]
        XCTAssertEqual([kv.createRevision, kv.modRevision, kv.version, kv.lease], [5, 5, 1, 7])
        // History stays readable at older revisions.
        XCTAssertEqual(try s.get("foo", "", .init(rev: 2)).kvs[0].value, b("v1"))
        XCTAssertEqual(try s.get("foo", "", .init(rev: 4)).count, 0)
        XCTAssertEqual(try s.get("foo", "", .init(rev: 3)).kvs[0].version, 2)
        XCTAssertEqual(try s.get("foo", "", .init(rev: 3)).rev, 5, "header revision is the current one")
    }

    /// etcd's keys gauge: keys that exist now, through deletes, re-puts, rollbacks and a reload.
    func testKeyCountCountsLiveKeysOnly() throws {
        let f = try StoreFixture()
        try f.store.put("a", "1")
        try f.store.put("b", "1")
        try f.store.put("b", "2")
        XCTAssertEqual(f.store.keyCount, 2)
        try f.store.delete("b")
        XCTAssertEqual(f.store.keyCount, 1, "a deleted key stays in the index but does not count")
        do {
            let txn = try f.store.write()
            try txn.put(b("b"), b("3"))
            try txn.put(b("c"), b("1"))
            _ = try txn.deleteRange(b("a"))
            txn.rollback()
        }
        XCTAssertEqual(f.store.keyCount, 1, "a rolled-back transaction changes nothing")
        try f.store.put("b", "4")
        XCTAssertEqual(f.store.keyCount, 2)
        try f.reopen()
        XCTAssertEqual(f.store.keyCount, 2, "rebuilt from the backend")
        try f.store.delete("a")
        XCTAssertEqual(f.store.keyCount, 1)
    }

    func testRangeOptions() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        for k in ["a", "b", "c", "c/1", "c/2", "d"] { try s.put(k, "v-" + k) }
        XCTAssertEqual(s.keys(try s.get("a", "c")), ["a", "b"])
        XCTAssertEqual(s.keys(try s.get("c", "\0")), ["c", "c/1", "c/2", "d"], "range_end \\0: from key")
        XCTAssertEqual(s.keys(try s.get("\0", "\0")), ["a", "b", "c", "c/1", "c/2", "d"])
        XCTAssertEqual(s.keys(try s.get("c/", "c0")), ["c/1", "c/2"], "prefix")
        XCTAssertEqual(s.keys(try s.get("c")), ["c"], "single key")
        XCTAssertEqual(try s.get("zz").count, 0)
        XCTAssertEqual(try s.get("d", "a").count, 0, "end before key")
        let limited = try s.get("a", "\0", .init(limit: 2))
        XCTAssertEqual(s.keys(limited), ["a", "b"])
        XCTAssertEqual(limited.count, 6, "count ignores the limit (more = count > kvs)")
        let counted = try s.get("a", "\0", .init(countOnly: true))
        XCTAssertEqual(counted.kvs, [])
        XCTAssertEqual(counted.count, 6)
        let keysOnly = try s.get("a", "c", .init(keysOnly: true))
        XCTAssertEqual(keysOnly.kvs.map(\.value), [[], []])
        XCTAssertEqual(keysOnly.kvs[1].modRevision, 3)
        XCTAssertEqual(s.keys(try s.get("a", "\0", .init(rev: 4))), ["a", "b", "c"])
        XCTAssertThrowsError(try s.get("a", "", .init(rev: 8))) { XCTAssertEqual($0 as? MVCCError, .futureRev) }
        XCTAssertEqual(MVCCError.futureRev.description, "mvcc: required revision is a future revision")
    }

    func testTxnSharesOneRevisionWithSubRevisions() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        try s.put("x", "0")
        let txn = try s.write()
        XCTAssertEqual(txn.rev, 2)
        try txn.put(b("a"), b("1"))
        try txn.put(b("b"), b("2"))
        try txn.put(b("a"), b("3"))
        XCTAssertEqual(txn.rev, 3)
        // The transaction reads its own writes; outside readers do not see them yet.
        let inside = try txn.range(b("a"), b("c"))
        XCTAssertEqual(inside.kvs.map(\.value), [b("3"), b("2")])
        XCTAssertEqual(inside.kvs[0].version, 2)
        XCTAssertEqual(inside.rev, 3)
        XCTAssertEqual(try s.get("a").count, 0)
        let (n, prevs) = try txn.deleteRange(b("x"), prevKV: true)
        XCTAssertEqual(n, 1)
        XCTAssertEqual(prevs.map(\.value), [b("0")])
        let events = try txn.end()
        XCTAssertEqual(s.currentRevision, 3)
        XCTAssertEqual(events.map(\.kind), [.put, .put, .put, .delete])
        XCTAssertEqual(events.map(\.kv.modRevision), [3, 3, 3, 3])
        XCTAssertEqual(events[2].kv.version, 2)
        XCTAssertEqual(events[3].prevKV?.value, b("0"))
        // The key bucket holds sub revisions 0...3 of main revision 3, the delete as a tombstone.
        let r = try f_backendKeys(s, main: 3)
        XCTAssertEqual(r, [Revision.keyLength, Revision.keyLength, Revision.keyLength, Revision.tombstoneKeyLength])
        let a = try s.get("a").kvs[0]
        XCTAssertEqual([a.createRevision, a.modRevision, a.version], [3, 3, 2])
    }

    func testDeletingNothingDoesNotBumpTheRevision() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        try s.put("a", "1")
        XCTAssertEqual(try s.delete("nope"), 0)
        XCTAssertEqual(try s.delete("b", "z"), 0)
        XCTAssertEqual(s.currentRevision, 2)
        let txn = try s.write()
        XCTAssertEqual(try txn.deleteRange(b("x")).deleted, 0)
        XCTAssertEqual(try txn.end(), [])
        XCTAssertEqual(txn.rev, 2)
        XCTAssertEqual(s.currentRevision, 2)
        // Deleting a deleted key is also nothing.
        try s.delete("a")
        XCTAssertEqual(try s.delete("a"), 0)
        XCTAssertEqual(s.currentRevision, 3)
    }

    func testPutReturnsPreviousForIgnoreValueAndLease() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        try s.put("k", "v", lease: 9)
        let txn = try s.write()
        XCTAssertNil(try txn.put(b("new"), b("x"), prevKV: true))
        let prev = try txn.put(b("k"), b("v2"), lease: 0, prevKV: true)
        XCTAssertEqual(prev?.value, b("v"))
        XCTAssertEqual(prev?.lease, 9)
        let events = try txn.end()
        XCTAssertEqual(events[1].prevKV, prev)
        XCTAssertNil(events[0].prevKV)
    }

    func testCompaction() throws {
        let f = try StoreFixture(options: .init(compactionBatchLimit: 3))
        var s: KVStore { f.store }
        try s.put("a", "1")      // 2
        try s.put("a", "2")      // 3
        try s.put("b", "1")      // 4
        try s.delete("b")        // 5
        try s.put("a", "3")      // 6
        try s.put("c", "1")      // 7
        try s.delete("c")        // 8
        try s.put("c", "2")      // 9
        XCTAssertThrowsError(try s.compact(10)) { XCTAssertEqual($0 as? MVCCError, .futureRev) }
        try s.compact(5)
        XCTAssertEqual(s.compactedRevision, 5)
        XCTAssertThrowsError(try s.compact(5)) { XCTAssertEqual($0 as? MVCCError, .compacted) }
        XCTAssertThrowsError(try s.compact(4)) { XCTAssertEqual($0 as? MVCCError, .compacted) }
        XCTAssertThrowsError(try s.get("a", "", .init(rev: 4))) { XCTAssertEqual($0 as? MVCCError, .compacted) }
        XCTAssertEqual(MVCCError.compacted.description, "mvcc: required revision has been compacted")
        // The compaction revision itself is still readable (etcd: only rev < compacted fails).
        XCTAssertEqual(try s.get("a", "", .init(rev: 5)).kvs[0].value, b("2"))
        XCTAssertEqual(try s.get("b", "", .init(rev: 5)).count, 0)
        XCTAssertEqual(try s.get("a").kvs[0].value, b("3"))
        // Revisions left: a@3 (latest at or below 5), a@6, c@7, c@8(t), c@9; b's tombstone and
        // a@2, b@4 are gone.
        XCTAssertEqual(try allRevisions(s), [3, 6, 7, 8, 9])
        try s.compact(9)
        XCTAssertEqual(try allRevisions(s), [6, 9])
        XCTAssertEqual(s.keys(try s.get("\0", "\0")), ["a", "c"])
        let c = try s.get("c").kvs[0]
        XCTAssertEqual([c.createRevision, c.modRevision, c.version], [9, 9, 1])
        // The index forgot b entirely; re-putting it starts over.
        XCTAssertNil(s.index.read { $0.tree.get(b("b")) })
        try s.put("b", "again")
        XCTAssertEqual(try s.get("b").kvs[0].version, 1)
        // Compaction survives a restart.
        try f.reopen()
        XCTAssertEqual(f.store.compactedRevision, 9)
        XCTAssertEqual(f.store.currentRevision, 10)
        XCTAssertThrowsError(try f.store.get("a", "", .init(rev: 8))) { XCTAssertEqual($0 as? MVCCError, .compacted) }
    }

    func testCompactionAtCurrentRevisionKeepsLatestAndDropsDeleted() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        try s.put("k", "1")
        try s.delete("k")
        try s.compact(s.currentRevision)
        XCTAssertEqual(try allRevisions(s), [])
        XCTAssertEqual(s.currentRevision, 3)
        XCTAssertEqual(try s.put("k", "2"), 4)
    }

    func testRestartRestoresEverything() throws {
        let f = try StoreFixture()
        try f.store.put("a", "1", lease: 5)
        try f.store.put("b", "1")
        try f.store.put("a", "2", lease: 5)
        try f.store.delete("b")
        do {
            let txn = try f.store.write()
            try txn.put(b("c"), b("3"))
            txn.setConsistentIndex(42)
            try txn.end()
        }
        let before = try f.store.hashByRev(0)
        try f.reopen()
        var s: KVStore { f.store }
        XCTAssertEqual(s.currentRevision, 6)
        XCTAssertEqual(s.consistentIndex, 42)
        let a = try s.get("a").kvs[0]
        XCTAssertEqual([a.createRevision, a.modRevision, a.version, a.lease], [2, 4, 2, 5])
        XCTAssertEqual(try s.get("b").count, 0)
        XCTAssertEqual(try s.get("b", "", .init(rev: 3)).kvs[0].value, b("1"))
        XCTAssertEqual(s.restoredLeases.map(\.key), [b("a")])
        XCTAssertEqual(s.restoredLeases.map(\.lease), [5])
        XCTAssertEqual(try s.hashByRev(0), before)
        // A transaction that only moves the consistent index persists it without a new revision.
        do {
            let t2 = try s.write()
            t2.setConsistentIndex(43)
            XCTAssertEqual(try t2.end(), [])
        }
        try f.reopen()
        XCTAssertEqual(f.store.consistentIndex, 43)
        XCTAssertEqual(f.store.currentRevision, 6)
        // A re-put after restart continues generations correctly.
        try f.store.put("b", "2")
        let bkv = try f.store.get("b").kvs[0]
        XCTAssertEqual([bkv.createRevision, bkv.version], [7, 1])
    }

    func testHashByRev() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        try s.put("a", "1")
        let h2 = try s.hashByRev(2)
        try s.put("a", "2")
        XCTAssertEqual(try s.hashByRev(2).hash, h2.hash, "later writes do not change the hash at 2")
        XCTAssertNotEqual(try s.hashByRev(0).hash, h2.hash)
        XCTAssertEqual(try s.hashByRev(0).currentRev, 3)
        XCTAssertThrowsError(try s.hashByRev(4)) { XCTAssertEqual($0 as? MVCCError, .futureRev) }
        try s.compact(2)
        XCTAssertThrowsError(try s.hashByRev(2)) { XCTAssertEqual($0 as? MVCCError, .compacted) }
        _ = try s.hash()
    }

    func testWriteClosureRollsBackOnError() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        try s.put("a", "1")
        XCTAssertThrowsError(try s.write { (txn) throws(MVCCError) in
            try txn.put(b("a"), b("2"))
            try txn.put(b("z"), b("2"))
            throw MVCCError.corrupt("caller gave up")
        })
        XCTAssertEqual(s.currentRevision, 2)
        XCTAssertEqual(try s.get("a").kvs[0].value, b("1"))
        XCTAssertEqual(try s.get("z").count, 0)
        let (_, events) = try s.write { (txn) throws(MVCCError) in try txn.put(b("a"), b("3")) }
        XCTAssertEqual(events.count, 1)
        XCTAssertEqual(try s.get("a").kvs[0].version, 2)
    }

    /// Rollback takes back exactly what the transaction did to the index: the result equals the
    /// index rebuilt from disk.
    func testRollbackRestoresTheIndexExactly() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        try s.put("a", "1")
        try s.put("b", "1")
        try s.delete("b")
        try s.put("c", "1")
        let before = dumpIndex(s)
        do {
            let txn = try s.write()
            try txn.put(b("a"), b("2"))          // existing key
            try txn.put(b("a"), b("3"))          // twice in one txn
            try txn.put(b("b"), b("2"))          // re-create a deleted key
            try txn.put(b("new"), b("1"))        // brand-new key
            try txn.deleteRange(b("c"))          // delete
            try txn.put(b("c"), b("2"))          // and re-put in the same txn
            try txn.deleteRange(b("new"))        // delete a key created in this txn
            txn.rollback()
        }
        XCTAssertEqual(dumpIndex(s), before)
        XCTAssertEqual(s.currentRevision, 5)
        XCTAssertEqual(try s.put("d", "1"), 6, "the rolled-back revision is reused")
        let live = dumpIndex(s)
        try f.reopen()
        XCTAssertEqual(dumpIndex(f.store), live)
    }

    private func dumpIndex(_ s: KVStore) -> [String] {
        s.index.read { st in
            var out: [String] = []
            st.tree.ascend(from: []) { ki in
                out.append("\(String(decoding: ki.key, as: UTF8.self)) mod \(ki.modified) "
                    + ki.generations.map { "[c\($0.created) v\($0.ver) \($0.revs)]" }.joined())
                return true
            }
            return out
        }
    }

    func testMapFullRollsBackTheWholeTransaction() throws {
        let f = try StoreFixture()
        f.store = nil
        f.backend = try Backend(path: f.dir + "/small", options: .init(quotaBytes: 1 << 20))
        let s = try KVStore(backend: f.backend)
        try s.put("keep", "1")
        let big = [UInt8](repeating: 1, count: 64 * 1024)
        XCTAssertThrowsError(try s.write { (txn) throws(MVCCError) in
            for i in 0..<40 { try txn.put(b("k\(i)"), big) }
        }) { XCTAssertEqual($0 as? MVCCError, .storage(.mapFull)) }
        XCTAssertEqual(s.currentRevision, 2)
        XCTAssertEqual(s.keys(try s.get("\0", "\0")), ["keep"])
        XCTAssertEqual(try s.put("after", "1"), 3)
    }

    func testChangesForWatchCatchUp() throws {
        let f = try StoreFixture()
        var s: KVStore { f.store }
        try s.put("a", "1")                         // 2
        try s.write { (txn) throws(MVCCError) in    // 3
            try txn.put(b("b"), b("1"))
            try txn.put(b("c"), b("1"))
        }
        try s.delete("a")                           // 4
        try s.put("a", "2")                         // 5
        let v = try s.read()
        let all = try v.changes(from: 2)
        XCTAssertEqual(all.map(\.kind), [.put, .put, .put, .delete, .put])
        XCTAssertEqual(all.map(\.kv.modRevision), [2, 3, 3, 4, 5])
        XCTAssertEqual(all[3].kv.key, b("a"))
        XCTAssertEqual(all[4].kv.version, 1)
        XCTAssertEqual(try v.changes(from: 3, to: 4).map(\.kv.modRevision), [3, 3, 4])
        // A limit never splits a transaction.
        XCTAssertEqual(try v.changes(from: 3, limit: 1).map(\.kv.modRevision), [3, 3])
        XCTAssertEqual(try v.changes(from: 6), [])
        v.end()
        try s.compact(4)
        XCTAssertThrowsError(try s.read().changes(from: 3)) { XCTAssertEqual($0 as? MVCCError, .compacted) }
        XCTAssertEqual(try s.read().changes(from: 4).map(\.kv.modRevision), [5])
    }

    private func allRevisions(_ s: KVStore) throws -> [Int64] {
        var out: [Int64] = []
        let tx = try s.backend.read()
        try tx.forEach(.key) { k, _ in out.append(Revision(keyBytes: k)!.main); return true }
        return out
    }

    private func f_backendKeys(_ s: KVStore, main: Int64) throws -> [Int] {
        var out: [Int] = []
        let tx = try s.backend.read()
        try tx.forEach(.key) { k, _ in
            if Revision(keyBytes: k)!.main == main { out.append(k.count) }
            return true
        }
        return out
    }
}
