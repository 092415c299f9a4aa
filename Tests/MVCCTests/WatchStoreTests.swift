@testable import MVCC
import XCTest

/// A store plus a `WatchableStore` whose sync worker is driven by hand (unless `threaded`).
final class WatchFixture {
    let f: StoreFixture
    let ws: WatchableStore
    var store: KVStore { f.store }

    init(bufferCapacity: Int = 128, catchUpBatchLimit: Int = 1000, threaded: Bool = false,
         afterHistoryRead: (@Sendable () -> Void)? = nil) throws {
        f = try StoreFixture()
        var o = WatchableStore.Options(bufferCapacity: bufferCapacity, catchUpBatchLimit: catchUpBatchLimit)
        o.manual = !threaded
        o.afterHistoryRead = afterHistoryRead
        ws = WatchableStore(store: f.store, options: o)
    }

    deinit { ws.shutdown() }

    /// Runs `body` in one write transaction and notifies its events, as the apply loop does.
    @discardableResult
    func txn(_ body: (WriteTxn) throws(MVCCError) -> Void) throws -> Int64 {
        let (_, events) = try store.write(body)
        let rev = store.currentRevision
        if !events.isEmpty { ws.notify(events, revision: rev) }
        return rev
    }

    @discardableResult
    func put(_ k: String, _ v: String, prevKV: Bool = false) throws -> Int64 {
        try txn { txn throws(MVCCError) in try txn.put(b(k), b(v), prevKV: prevKV) }
    }

    @discardableResult
    func delete(_ k: String, _ end: String = "") throws -> Int64 {
        try txn { txn throws(MVCCError) in try txn.deleteRange(b(k), b(end)) }
    }
}

extension WatchStream {
    /// Watch with defaults for the flags.
    @discardableResult
    func watch(_ key: String, _ end: String = "", id: Int64 = 0, start: Int64 = 0, prevKV: Bool = false,
               noPut: Bool = false, noDelete: Bool = false, progress: Bool = false) throws -> Int64 {
        try watch(id: id, key: b(key), end: b(end), startRevision: start, prevKV: prevKV, noPut: noPut,
                  noDelete: noDelete, progressNotify: progress)
    }

    /// Everything queued now.
    func drain() -> [WatchResponse] {
        var out: [WatchResponse] = []
        while let r = poll() { out.append(r) }
        return out
    }
}

/// "PUT key@rev" / "DELETE key@rev" lines for compact assertions.
func describe(_ evs: [Event]) -> [String] {
    evs.map { "\($0.kind == .put ? "PUT" : "DELETE") \(String(decoding: $0.kv.key, as: UTF8.self))@\($0.kv.modRevision)" }
}

func describe(_ rs: [WatchResponse]) -> [String] { rs.flatMap { describe($0.events) } }

final class WatchStoreTests: XCTestCase {
    func testLiveEventsForKeyPrefixRangeAndFromKey() throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        let single = try s.watch("foo")
        let prefix = try s.watch("foo/", "foo0")
        let range = try s.watch("a", "c")
        let fromKey = try s.watch("m", "\0")
        let all = try s.watch("\0", "\0")
        try w.put("foo", "1")      // 2
        try w.put("foo/x", "2")    // 3
        try w.put("b", "3")        // 4
        try w.put("c", "4")        // 5: not in [a, c)
        try w.put("z", "5")        // 6
        try w.delete("foo")        // 7
        let rs = s.drain()
        func of(_ id: Int64) -> [String] { describe(rs.filter { $0.watchID == id }) }
        XCTAssertEqual(of(single), ["PUT foo@2", "DELETE foo@7"])
        XCTAssertEqual(of(prefix), ["PUT foo/x@3"])
        XCTAssertEqual(of(range), ["PUT b@4"])
        XCTAssertEqual(of(fromKey), ["PUT z@6"])
        XCTAssertEqual(of(all), ["PUT foo@2", "PUT foo/x@3", "PUT b@4", "PUT c@5", "PUT z@6", "DELETE foo@7"])
        for r in rs {
            XCTAssertEqual(r.events.count, 1)
            XCTAssertEqual(r.revision, r.events[0].kv.modRevision)
        }
        let put = rs.first { $0.watchID == single }!.events[0]
        XCTAssertEqual(put.kv, KeyValue(key: b("foo"), createRevision: 2, modRevision: 2, version: 1, value: b("1")))
        XCTAssertNil(put.prevKV)
    }

    func testManyWatchersOnOneKeyAndPrefix() throws {
        let w = try WatchFixture()
        let streams = (0..<20).map { _ in w.ws.makeStream() }
        for s in streams {
            for i in 0..<50 { try s.watch(i % 2 == 0 ? "k" : "k", i % 2 == 0 ? "" : "l") }
        }
        XCTAssertEqual(w.ws.watcherCounts.synced, 1000)
        try w.put("k1", "x")
        try w.put("k", "y")
        for s in streams {
            let rs = s.drain()
            XCTAssertEqual(rs.count, 25 + 50)
        }
    }

    func testTxnEventsArriveTogether() throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        let id = try s.watch("k", "l")
        let rev = try w.txn { t throws(MVCCError) in
            try t.put(b("k1"), b("a"))
            try t.put(b("x"), b("b"))
            try t.put(b("k2"), b("c"))
            try t.deleteRange(b("k1"))
        }
        let rs = s.drain()
        XCTAssertEqual(rs.count, 1)
        XCTAssertEqual(rs[0].watchID, id)
        XCTAssertEqual(rs[0].revision, rev)
        XCTAssertEqual(describe(rs), ["PUT k1@2", "PUT k2@2", "DELETE k1@2"])
    }

    func testHistoryReplayInOrderThenLive() throws {
        let w = try WatchFixture(catchUpBatchLimit: 3)
        for i in 0..<10 { try w.put("k\(i % 3)", "v\(i)") }   // revisions 2...11
        try w.txn { t throws(MVCCError) in
            try t.put(b("k0"), b("t1"))
            try t.put(b("k1"), b("t2"))
            try t.put(b("k2"), b("t3"))
            try t.put(b("other"), b("t4"))
        }                                                     // 12, four events
        let s = w.ws.makeStream()
        let id = try s.watch("k", "l", start: 4)
        XCTAssertEqual(w.ws.watcherCounts.unsynced, 1)
        XCTAssertTrue(s.drain().isEmpty, "nothing before the sync worker runs")
        try w.put("k9", "live-before-sync")                   // 13: the watcher is unsynced
        w.ws.syncUntilIdle()
        XCTAssertEqual(w.ws.watcherCounts.synced, 1)
        try w.put("k9", "live")                               // 14
        let rs = s.drain()
        XCTAssertTrue(rs.allSatisfy { $0.watchID == id })
        XCTAssertEqual(describe(rs), (4...11).map { "PUT k\(($0 - 2) % 3)@\($0)" }
            + ["PUT k0@12", "PUT k1@12", "PUT k2@12", "PUT k9@13", "PUT k9@14"])
        // Batches hold whole revisions: no revision's events are in two responses.
        let perResponse = rs.map { Set($0.events.map(\.kv.modRevision)) }
        for i in perResponse.indices {
            for j in perResponse.indices where j > i { XCTAssertTrue(perResponse[i].isDisjoint(with: perResponse[j])) }
        }
        XCTAssertGreaterThan(rs.count, 3, "the batch limit split the replay into rounds")
        XCTAssertEqual(rs.last!.revision, 14)
        XCTAssertEqual(rs[0].events[0].kv.value, b("v2"))
    }

    func testReplayFromCurrentRevisionAndCatchUpBatchesNeverSplitARevision() throws {
        let w = try WatchFixture(catchUpBatchLimit: 1)
        try w.txn { t throws(MVCCError) in
            try t.put(b("a"), b("1"))
            try t.put(b("b"), b("2"))
        }                                                     // 2
        try w.put("a", "3")                                   // 3
        let s = w.ws.makeStream()
        try s.watch("a", "z", start: 2)
        w.ws.syncUntilIdle()
        let rs = s.drain()
        XCTAssertEqual(rs.map { describe($0.events) }, [["PUT a@2", "PUT b@2"], ["PUT a@3"]])
        XCTAssertEqual(rs.map(\.revision), [2, 3])
        // A start at exactly the current revision replays that revision.
        let s2 = w.ws.makeStream()
        try s2.watch("a", start: 3)
        w.ws.syncUntilIdle()
        XCTAssertEqual(describe(s2.drain()), ["PUT a@3"])
    }

    /// A write notified while a catch-up round reads history (no lock held) is not lost: the
    /// watcher stays unsynced one more round instead of jumping over it.
    func testNotifyDuringCatchUpReadIsNotLost() throws {
        final class Box: @unchecked Sendable { var fixture: WatchFixture?; var armed = true }
        let box = Box()
        let w = try WatchFixture(afterHistoryRead: {
            guard box.armed, let f = box.fixture else { return }
            box.armed = false
            _ = try! f.put("k", "during")
        })
        box.fixture = w
        defer { box.fixture = nil }
        try w.put("k", "1")                                   // 2
        try w.put("k", "2")                                   // 3
        let s = w.ws.makeStream()
        try s.watch("k", start: 2)
        w.ws.syncOnce()                                       // reads 2...3; 4 is notified meanwhile
        XCTAssertEqual(w.ws.watcherCounts.unsynced, 1, "it must not join the synced group at 3")
        w.ws.syncUntilIdle()
        XCTAssertEqual(w.ws.watcherCounts.synced, 1)
        try w.put("k", "3")                                   // 5
        XCTAssertEqual(describe(s.drain()), ["PUT k@2", "PUT k@3", "PUT k@4", "PUT k@5"])
    }

    func testCompactedStartRevisionCancelsWithCompactRevision() throws {
        let w = try WatchFixture()
        for i in 0..<6 { try w.put("k", "v\(i)") }            // 2...7
        try w.store.compact(5)
        let s = w.ws.makeStream()
        let id = try s.watch("k", start: 3)
        let ok = try s.watch("k", start: 5)                   // etcd: minRev < compactRev only
        w.ws.syncUntilIdle()
        let rs = s.drain()
        let compacted = rs.filter { $0.watchID == id }
        XCTAssertEqual(compacted.count, 1)
        XCTAssertEqual(compacted[0].compactRevision, 5)
        XCTAssertTrue(compacted[0].canceled)
        XCTAssertTrue(compacted[0].events.isEmpty)
        XCTAssertEqual(describe(rs.filter { $0.watchID == ok }), ["PUT k@5", "PUT k@6", "PUT k@7"])
        try w.put("k", "after")
        XCTAssertEqual(s.drain().map(\.watchID), [ok], "the compacted watcher gets nothing more")
        XCTAssertEqual(s.watchIDs, [id, ok], "its id stays taken until cancelled, as in etcd")
        XCTAssertTrue(s.cancel(id: id))
        XCTAssertEqual(s.watchIDs, [ok])
        XCTAssertEqual(w.ws.watcherCounts.unsynced, 0)
    }

    func testFutureStartRevisionWaits() throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        try s.watch("k", start: 4)
        XCTAssertEqual(w.ws.watcherCounts.synced, 1)
        try w.put("k", "2")
        try w.put("k", "3")
        XCTAssertTrue(s.drain().isEmpty)
        try w.put("k", "4")
        try w.put("k", "5")
        XCTAssertEqual(describe(s.drain()), ["PUT k@4", "PUT k@5"])
    }

    func testFilters() throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        let noPut = try s.watch("k", "l", noPut: true)
        let noDelete = try s.watch("k", "l", noDelete: true)
        try w.put("k1", "a")
        try w.delete("k1")
        try w.txn { t throws(MVCCError) in
            try t.put(b("k2"), b("b"))
            try t.deleteRange(b("k2"))
        }
        let rs = s.drain()
        XCTAssertEqual(rs.filter { $0.watchID == noPut }.map { describe($0.events) }, [["DELETE k1@3"], ["DELETE k2@4"]])
        XCTAssertEqual(rs.filter { $0.watchID == noDelete }.map { describe($0.events) }, [["PUT k1@2"], ["PUT k2@4"]])
        // A response the filter empties is not sent at all, in history replay too.
        let s2 = w.ws.makeStream()
        try s2.watch("k1", start: 2, noPut: true)
        w.ws.syncUntilIdle()
        XCTAssertEqual(s2.drain().map { describe($0.events) }, [["DELETE k1@3"]])
    }

    func testPrevKV() throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        let with = try s.watch("k", prevKV: true)
        let without = try s.watch("k")
        try w.put("k", "v1")                      // 2: creation, no prevKV
        try w.put("k", "v2", prevKV: true)        // 3: the txn's own prevKV is reused
        try w.put("k", "v3")                      // 4: read from the store at 3
        try w.delete("k")                         // 5
        let rs = s.drain()
        let got = rs.filter { $0.watchID == with }.flatMap(\.events).map { $0.prevKV.map { String(decoding: $0.value, as: UTF8.self) } }
        XCTAssertEqual(got, [nil, "v1", "v2", "v3"])
        let prev = rs.filter { $0.watchID == with }.flatMap(\.events)[2].prevKV!
        XCTAssertEqual(prev, KeyValue(key: b("k"), createRevision: 2, modRevision: 3, version: 2, value: b("v2")))
        XCTAssertTrue(rs.filter { $0.watchID == without }.flatMap(\.events).allSatisfy { $0.prevKV == nil },
                      "prevKV is only for watchers that ask")
        // History replay fills it too.
        let s2 = w.ws.makeStream()
        try s2.watch("k", start: 3, prevKV: true)
        w.ws.syncUntilIdle()
        XCTAssertEqual(s2.drain().flatMap(\.events).map { $0.prevKV.map { String(decoding: $0.value, as: UTF8.self) } },
                       ["v1", "v2", "v3"])
    }

    func testAutoAndClientIDs() throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        XCTAssertEqual(try s.watch("a"), 0)
        XCTAssertEqual(try s.watch("a"), 1)
        XCTAssertEqual(try s.watch("a", id: 3), 3)
        XCTAssertEqual(try s.watch("a"), 2)
        XCTAssertEqual(try s.watch("a"), 4, "auto ids skip one in use")
        XCTAssertThrowsError(try s.watch("a", id: 3)) { XCTAssertEqual($0 as? WatchError, .idInUse) }
        XCTAssertThrowsError(try s.watch("b", "a")) { XCTAssertEqual($0 as? WatchError, .emptyRange) }
        XCTAssertThrowsError(try s.watch("a", "a")) { XCTAssertEqual($0 as? WatchError, .emptyRange) }
        XCTAssertEqual(WatchError.idInUse.description, "mvcc: duplicate watch ID provided on the WatchStream")
        // Ids are per stream.
        XCTAssertEqual(try w.ws.makeStream().watch("a"), 0)
        XCTAssertTrue(s.cancel(id: 3))
        XCTAssertEqual(try s.watch("a", id: 3), 3, "a cancelled id is free again")
    }

    func testCancelDropsOnlyThatWatchersQueuedResponses() throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        let a = try s.watch("k")
        let c = try s.watch("k")
        try w.put("k", "1")
        try w.put("k", "2")
        XCTAssertTrue(s.cancel(id: a))
        let rs = s.drain()
        XCTAssertEqual(rs.map(\.watchID), [c, c])
        XCTAssertEqual(describe(rs), ["PUT k@2", "PUT k@3"])
    }

    func testCancelFreesTheWatcher() throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        let a = try s.watch("k")
        let r = try s.watch("k", "l")
        try w.put("k", "1")
        try w.put("old", "1")
        let u = try s.watch("k", start: 2)
        XCTAssertEqual(w.ws.watcherCounts.synced, 2)
        XCTAssertEqual(w.ws.watcherCounts.unsynced, 1)
        XCTAssertTrue(s.cancel(id: a))
        XCTAssertTrue(s.cancel(id: r))
        XCTAssertTrue(s.cancel(id: u))
        XCTAssertFalse(s.cancel(id: a))
        XCTAssertFalse(s.cancel(id: 42))
        XCTAssertEqual(w.ws.watcherCounts.synced, 0)
        XCTAssertEqual(w.ws.watcherCounts.unsynced, 0)
        XCTAssertTrue(s.drain().isEmpty, "responses queued before the cancel are dropped")
        try w.put("k", "2")
        w.ws.syncUntilIdle()
        XCTAssertTrue(s.drain().isEmpty)
    }
}
