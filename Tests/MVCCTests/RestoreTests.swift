import Glibc
@testable import MVCC
import Storage
import Synchronization
import XCTest

/// Installing another store's backend copy: `KVStore.replaceContents` / `reload`,
/// `WatchableStore.restore`.
final class RestoreTests: XCTestCase {
    /// A source store with history: puts, a delete, leases, a compaction and a consistent index.
    /// Revisions: a@2 b@3 a@4 -b@5 c@6(lease 7) d@7(lease 8) d@8(no lease) e@9, compacted at 4.
    func makeSource() throws -> StoreFixture {
        let src = try StoreFixture()
        let s = src.store!
        try s.put("a", "1")
        try s.put("b", "2")
        try s.put("a", "3")
        try s.delete("b")
        try s.put("c", "4", lease: 7)
        try s.put("d", "5", lease: 8)
        try s.put("d", "6")
        try s.write { txn throws(MVCCError) in
            try txn.put(b("e"), b("7"))
            txn.setConsistentIndex(42)
        }
        try s.compact(4)
        return src
    }

    func copyPath(_ f: StoreFixture) -> String { f.dir + "/snap.db" }

    func all(_ s: KVStore, rev: Int64 = 0) throws -> [String] {
        try s.get("\0", "\0", RangeOptions(rev: rev)).kvs.map {
            "\(String(decoding: $0.key, as: UTF8.self))=\(String(decoding: $0.value, as: UTF8.self))@\($0.modRevision)/c\($0.createRevision)/v\($0.version)/l\($0.lease)"
        }
    }

    func assertAnswersLikeSource(_ dst: KVStore, _ src: KVStore, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(dst.currentRevision, src.currentRevision, file: file, line: line)
        XCTAssertEqual(dst.compactedRevision, src.compactedRevision, file: file, line: line)
        XCTAssertEqual(dst.consistentIndex, 42, file: file, line: line)
        for rev in [Int64(0), 4, 5, 6, 7, 8] {
            XCTAssertEqual(try all(dst, rev: rev), try all(src, rev: rev), "at \(rev)", file: file, line: line)
        }
        XCTAssertThrowsError(try dst.get("a", "", RangeOptions(rev: 3)), file: file, line: line) {
            XCTAssertEqual($0 as? MVCCError, .compacted)
        }
        let dv = try dst.read(), sv = try src.read()
        XCTAssertEqual(describe(try dv.changes(from: 4)), describe(try sv.changes(from: 4)), file: file, line: line)
        dv.end()
        sv.end()
        XCTAssertEqual(try dst.hash().hash, try src.hash().hash, file: file, line: line)
        XCTAssertEqual(try dst.hashByRev(0), try src.hashByRev(0), file: file, line: line)
    }

    func sortedLeases(_ l: [(key: [UInt8], lease: Int64)]) -> [String] {
        l.map { "\(String(decoding: $0.key, as: UTF8.self)):\($0.lease)" }.sorted()
    }

    func testReplaceContentsAnswersTheNewDataAndOldViewsKeepTheOld() throws {
        let src = try makeSource()
        try src.backend.copy(to: copyPath(src))

        let dst = try StoreFixture()
        try dst.store.put("x", "old")
        try dst.store.put("y", "old", lease: 99)
        for i in 0..<20 { try dst.store.put("z\(i)", "old") }
        XCTAssertEqual(sortedLeases(dst.store.restoredLeases), [])
        do {
            let oldView = try dst.store.read()
            defer { oldView.end() }

            let leases = try dst.store.replaceContents(withCopyAt: copyPath(src))
            XCTAssertEqual(sortedLeases(leases), ["c:7"])
            XCTAssertEqual(sortedLeases(dst.store.restoredLeases), ["c:7"])
            try assertAnswersLikeSource(dst.store, src.store)
            XCTAssertEqual(try dst.store.get("x").count, 0)

            // The view opened before still reads the old data with the old index.
            XCTAssertEqual(oldView.rev, 23)
            XCTAssertEqual(try oldView.range(b("x")).kvs.map(\.value), [b("old")])
            XCTAssertEqual(try oldView.range(b("z"), b("z\u{FF}")).count, 20)
            XCTAssertEqual(try oldView.range(b("a")).count, 0)
            XCTAssertEqual(describe(try oldView.changes(from: 2, to: 3)), ["PUT x@2", "PUT y@3"])
        }

        // Writes go on from the new revision.
        XCTAssertEqual(try dst.store.put("f", "8"), src.store.currentRevision + 1)
        XCTAssertEqual(try dst.store.get("f").kvs.first?.createRevision, src.store.currentRevision + 1)

        // And the store reopens from disk with the same state.
        try dst.reopen()
        XCTAssertEqual(dst.store.currentRevision, src.store.currentRevision + 1)
        XCTAssertEqual(dst.store.compactedRevision, 4)
        XCTAssertEqual(dst.store.consistentIndex, 42)
    }

    func testBackendReplaceThenReload() throws {
        let src = try makeSource()
        try src.backend.copy(to: copyPath(src))
        let dst = try StoreFixture()
        try dst.store.put("c", "mine", lease: 5)
        try dst.store.put("q", "mine", lease: 6)
        XCTAssertEqual(sortedLeases(dst.store.restoredLeases), [])

        try dst.backend.replaceContents(withCopyAt: copyPath(src))
        let leases = try dst.store.reload()
        XCTAssertEqual(sortedLeases(leases), ["c:7"])
        XCTAssertEqual(sortedLeases(dst.store.restoredLeases), ["c:7"])
        try assertAnswersLikeSource(dst.store, src.store)
        XCTAssertEqual(try dst.store.put("f", "8"), src.store.currentRevision + 1)
    }

    func testReloadFinishesACompactionTheCopyScheduled() throws {
        let src = try makeSource()
        // A copy taken between the scheduling of a compaction at 7 and its end.
        try src.backend.update { try $0.put(.meta, MetaKey.scheduledCompact, Revision(main: 7).keyBytes()) }
        try src.backend.copy(to: copyPath(src))
        let dst = try StoreFixture()
        try dst.store.put("x", "old")
        try dst.store.replaceContents(withCopyAt: copyPath(src))
        XCTAssertEqual(dst.store.compactedRevision, 7)
        XCTAssertThrowsError(try dst.store.get("a", "", RangeOptions(rev: 6))) {
            XCTAssertEqual($0 as? MVCCError, .compacted)
        }
        XCTAssertEqual(try all(dst.store), try all(src.store))
        try src.store.compact(7)
        XCTAssertEqual(try dst.store.hashByRev(0), try src.store.hashByRev(0))
    }

    func testInvalidCopyChangesNothing() throws {
        let dst = try StoreFixture()
        try dst.store.put("x", "old")
        let garbage = dst.dir + "/garbage"
        let fd = open(garbage, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let junk = [UInt8](repeating: 0x5A, count: 16384)
        _ = junk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        XCTAssertThrowsError(try dst.store.replaceContents(withCopyAt: garbage)) { error in
            guard case .storage(.invalidCopy)? = error as? MVCCError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(dst.store.currentRevision, 2)
        XCTAssertEqual(try dst.store.get("x").kvs.map(\.value), [b("old")])
        XCTAssertEqual(try dst.store.put("y", "1"), 3)
    }

    /// Views opened while the data is replaced see the old state or the new one, whole.
    func testConcurrentViewsNeverMixOldAndNew() throws {
        let src = try StoreFixture()
        try src.store.write { txn throws(MVCCError) in
            for i in 0..<150 { try txn.put(b("k\(i)"), b("new")) }
        }
        try src.backend.copy(to: copyPath(src))
        let dst = try StoreFixture()
        for i in 0..<100 { try dst.store.put("k\(i)", "old") }
        let store = dst.store!
        let c = Counters()
        let readers = (0..<2).map { _ in
            TestThread {
                while !c.done.load(ordering: .acquiring) {
                    do {
                        let r = try store.get("k", "l")
                        let values = Set(r.kvs.map { String(decoding: $0.value, as: UTF8.self) })
                        if r.count == 100 && values == ["old"] {
                            c.seenOld.add(1, ordering: .relaxed)
                        } else if r.count == 150 && values == ["new"] {
                            c.seenNew.add(1, ordering: .relaxed)
                        } else {
                            c.bad.add(1, ordering: .relaxed)
                        }
                    } catch {
                        c.bad.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        for _ in 0..<5000 where c.seenOld.load(ordering: .relaxed) < 20 { usleep(1000) }
        try store.replaceContents(withCopyAt: copyPath(src))
        for _ in 0..<5000 where c.seenNew.load(ordering: .relaxed) < 20 { usleep(1000) }
        c.done.store(true, ordering: .releasing)
        readers.forEach { $0.join() }
        XCTAssertGreaterThan(c.seenOld.load(ordering: .relaxed), 0)
        XCTAssertGreaterThan(c.seenNew.load(ordering: .relaxed), 0)
        XCTAssertEqual(c.bad.load(ordering: .relaxed), 0)
    }

    // MARK: Watchers

    func testRestoredWatcherCatchesUpFromTheNewData() throws {
        // Source history: foo@2 foo@3 k1@4 foo@5 bar@6, nothing compacted.
        let src = try StoreFixture()
        try src.store.put("foo", "1")
        try src.store.put("foo", "2")
        try src.store.put("k1", "x")
        try src.store.put("foo", "3")
        try src.store.put("bar", "y")
        try src.backend.copy(to: copyPath(src))

        let w = try WatchFixture()
        let s = w.ws.makeStream()
        let onFoo = try s.watch("foo")
        let onK = try s.watch("k", "l")
        let future = try s.watch("foo", start: 100)
        try w.put("foo", "1")  // rev 2: the member had applied this much
        XCTAssertEqual(describe(s.drain()), ["PUT foo@2"])

        try w.store.replaceContents(withCopyAt: copyPath(src))
        w.ws.restore()
        XCTAssertEqual(w.ws.notifiedRevision, 6)
        XCTAssertEqual(w.ws.watcherCounts.synced, 0)
        XCTAssertEqual(w.ws.watcherCounts.unsynced, 3)
        w.ws.syncUntilIdle()
        let rs = s.drain()
        XCTAssertEqual(rs.filter { $0.watchID == onFoo }.flatMap { describe($0.events) }, ["PUT foo@3", "PUT foo@5"])
        XCTAssertEqual(rs.filter { $0.watchID == onK }.flatMap { describe($0.events) }, ["PUT k1@4"])
        XCTAssertTrue(rs.filter { $0.watchID == future }.isEmpty)
        XCTAssertTrue(rs.allSatisfy { !$0.canceled })
        XCTAssertEqual(w.ws.watcherCounts.synced, 3)

        // Live again: the next revision is notified as usual.
        XCTAssertEqual(try w.put("foo", "4"), 7)
        XCTAssertEqual(s.drain().map { "\($0.watchID):\(describe($0.events))" }, ["\(onFoo):[\"PUT foo@7\"]"])
    }

    func testRestoreCancelsAWatcherWhoseNextRevisionWasCompacted() throws {
        let src = try StoreFixture()
        for i in 0..<6 { try src.store.put("foo", "\(i)") }  // foo@2...foo@7
        try src.store.compact(5)
        try src.backend.copy(to: copyPath(src))

        let w = try WatchFixture()
        let s = w.ws.makeStream()
        let stale = try s.watch("foo")        // has had rev 2, next is 3 < 5: compacted away
        let other = try s.watch("zzz", start: 5)  // its start revision is still there
        try w.put("foo", "x")  // rev 2
        _ = s.drain()

        try w.store.replaceContents(withCopyAt: copyPath(src))
        w.ws.restore()
        w.ws.syncUntilIdle()
        let rs = s.drain()
        XCTAssertEqual(rs.count, 1)
        XCTAssertEqual(rs.first?.watchID, stale)
        XCTAssertEqual(rs.first?.compactRevision, 5)
        XCTAssertEqual(rs.first?.canceled, true)
        XCTAssertEqual(rs.first?.events, [])
        XCTAssertEqual(w.ws.watcherCounts.synced, 1)
        XCTAssertEqual(w.ws.watcherCounts.unsynced, 0)
        // The cancelled one gets nothing more; the other one goes on.
        try w.put("foo", "y")
        try w.put("zzz", "z")
        XCTAssertEqual(s.drain().map { "\($0.watchID):\(describe($0.events))" }, ["\(other):[\"PUT zzz@9\"]"])
    }
}

/// Shared between the test and its reader threads.
final class Counters: Sendable {
    let done = Atomic<Bool>(false)
    let bad = Atomic<Int>(0)
    let seenOld = Atomic<Int>(0)
    let seenNew = Atomic<Int>(0)
}
