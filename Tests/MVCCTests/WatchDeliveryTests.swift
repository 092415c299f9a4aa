import Glibc
@testable import MVCC
import XCTest

final class WatchDeliveryTests: XCTestCase {
    /// The buffer fills, notify keeps going (it returns at once, never waits), the watcher falls
    /// unsynced and, once the consumer drains, catches up from history: every event, in order,
    /// exactly once. A watcher on another stream that keeps up is not affected.
    func testSlowConsumerFallsBehindAndCatchesUp() throws {
        let w = try WatchFixture(bufferCapacity: 4, catchUpBatchLimit: 5)
        let slow = w.ws.makeStream()
        let fast = w.ws.makeStream()
        try slow.watch("k", "l")
        try fast.watch("k", "l")
        var fastGot: [WatchResponse] = []
        for i in 0..<60 {
            try w.put("k\(i % 4)", "v\(i)")
            fastGot += fast.drain()
            XCTAssertLessThanOrEqual(slow.buffer.queued, 4, "memory stays bounded")
        }
        XCTAssertEqual(describe(fastGot).count, 60)
        XCTAssertEqual(w.ws.watcherCounts.unsynced, 1)
        var got: [WatchResponse] = []
        var rounds = 0
        while w.ws.watcherCounts.unsynced > 0 && rounds < 100 {
            got += slow.drain()
            w.ws.syncOnce()
            rounds += 1
        }
        got += slow.drain()
        XCTAssertEqual(describe(got), (0..<60).map { "PUT k\($0 % 4)@\($0 + 2)" })
        XCTAssertEqual(w.ws.watcherCounts.synced, 2)
        try w.put("k0", "live")
        XCTAssertEqual(describe(slow.drain()), ["PUT k0@62"])
    }

    /// While a catch-up is possible only partly (the buffer fills again), the watcher stays
    /// unsynced and nothing is lost or repeated.
    func testCatchUpRespectsAFullBuffer() throws {
        let w = try WatchFixture(bufferCapacity: 1, catchUpBatchLimit: 2)
        let s = w.ws.makeStream()
        for i in 0..<10 { try w.put("k", "\(i)") }
        try s.watch("k", start: 2)
        try s.watch("k", start: 2)
        var got: [String] = []
        for _ in 0..<100 {
            w.ws.syncOnce()
            guard let r = s.poll() else { continue }
            got += describe(r.events).map { "\(r.watchID) \($0)" }
            if w.ws.watcherCounts.unsynced == 0 && s.buffer.queued == 0 { break }
        }
        got += describe(s.drain())
        XCTAssertEqual(got.filter { $0.hasPrefix("0 ") }, (2...11).map { "0 PUT k@\($0)" })
        XCTAssertEqual(got.filter { $0.hasPrefix("1 ") }, (2...11).map { "1 PUT k@\($0)" })
    }

    func testProgressNotify() throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        let p = try s.watch("k", progress: true)
        try s.watch("k")
        try w.put("x", "1")                      // 2, not watched
        w.ws.progressTick()
        XCTAssertEqual(s.drain(), [WatchResponse(watchID: p, revision: 2)])
        try w.put("k", "1")                      // 3
        XCTAssertEqual(s.drain().count, 2)
        w.ws.progressTick()
        XCTAssertTrue(s.drain().isEmpty, "events since the last tick: no progress")
        w.ws.progressTick()
        XCTAssertEqual(s.drain(), [WatchResponse(watchID: p, revision: 3)])
    }

    func testRequestProgressWaitsForSyncedWatchers() throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        s.requestProgress()
        XCTAssertEqual(s.drain(), [WatchResponse(watchID: -1, revision: 1)], "no watchers: at once")
        try w.put("k", "1")                      // 2
        try s.watch("k")
        s.requestProgress()
        XCTAssertEqual(s.drain(), [WatchResponse(watchID: -1, revision: 2)])
        let u = try s.watch("k", start: 2)
        s.requestProgress()
        XCTAssertTrue(s.drain().isEmpty, "a replaying watcher is behind")
        w.ws.syncUntilIdle()
        let rs = s.drain()
        XCTAssertEqual(rs.map(\.watchID), [u, -1])
        XCTAssertEqual(rs.last!.revision, 2)
    }

    func testCloseFreesEverything() async throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        try s.watch("k")
        try s.watch("k", "l")
        try w.put("x", "1")
        try s.watch("k", start: 1)
        XCTAssertEqual(w.ws.watcherCounts.synced + w.ws.watcherCounts.unsynced, 3)
        try w.put("k", "1")
        s.close()
        XCTAssertEqual(w.ws.watcherCounts.synced, 0)
        XCTAssertEqual(w.ws.watcherCounts.unsynced, 0)
        XCTAssertEqual(s.watchIDs, [])
        XCTAssertNil(s.poll(), "queued responses are dropped")
        var n = 0
        for await _ in s.responses { n += 1 }
        XCTAssertEqual(n, 0, "the response stream ends")
        XCTAssertThrowsError(try s.watch("k")) { XCTAssertEqual($0 as? WatchError, .closed) }
        try w.put("k", "2")
        w.ws.syncUntilIdle()
        // Releasing a stream without close() frees its watchers too.
        do {
            let t = w.ws.makeStream()
            try t.watch("k")
        }
        XCTAssertEqual(w.ws.watcherCounts.synced, 0)
    }

    func testAsyncConsumerGetsResponsesWithPrevKV() async throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        try s.watch("k", prevKV: true)
        let consumer = Task { () -> [WatchResponse] in
            var out: [WatchResponse] = []
            for await r in s.responses {
                out.append(r)
                if out.count == 3 { break }
            }
            return out
        }
        try w.put("k", "1")
        try w.put("k", "2")
        try w.delete("k")
        let rs = await consumer.value
        XCTAssertEqual(describe(rs), ["PUT k@2", "PUT k@3", "DELETE k@4"])
        XCTAssertEqual(rs.map { $0.events[0].prevKV?.value }, [nil, b("1"), b("2")])
    }

    func testCancellingTheConsumerEndsTheStream() async throws {
        let w = try WatchFixture()
        let s = w.ws.makeStream()
        try s.watch("k")
        let consumer = Task { () -> Int in
            var n = 0
            for await _ in s.responses { n += 1 }
            return n
        }
        consumer.cancel()
        let n = await consumer.value
        XCTAssertEqual(n, 0)
    }

    /// The real worker thread: a writer thread notifies 2,000 puts while a slow async consumer
    /// with a 2-response buffer reads; it must end up with every event in order.
    func testThreadedSlowConsumerGetsEverything() async throws {
        let w = try WatchFixture(bufferCapacity: 2, catchUpBatchLimit: 50, threaded: true)
        let s = w.ws.makeStream()
        try s.watch("k", "l")
        try s.watch("k5")
        let total = 2000
        let store = w.store
        let ws = w.ws
        let writer = TestThread {
            for i in 0..<total {
                let (_, evs) = try! store.write { t throws(MVCCError) in try t.put(b("k\(i % 10)"), b("\(i)")) }
                ws.notify(evs, revision: evs[0].kv.modRevision)
            }
        }
        // A bug must fail the test, not hang it: closing the stream ends the loop below.
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(60))
            if !Task.isCancelled { s.close() }
        }
        var all: [String] = []
        var k5: [String] = []
        for await r in s.responses {
            if r.watchID == 0 { all += describe(r.events) } else { k5 += describe(r.events) }
            if all.count % 97 == 0 { usleep(200) }   // be slow now and then
            if all.count == total && k5.count == total / 10 { break }
        }
        writer.join()
        watchdog.cancel()
        XCTAssertGreaterThan(ws.fellBehindCount, 0, "the test did exercise the unsynced path")
        XCTAssertEqual(all, (0..<total).map { "PUT k\($0 % 10)@\($0 + 2)" })
        XCTAssertEqual(k5, (0..<total).filter { $0 % 10 == 5 }.map { "PUT k5@\($0 + 2)" })
    }

    /// The real worker thread picks up a replaying watcher without being driven.
    func testThreadedReplay() async throws {
        let w = try WatchFixture(threaded: true)
        for i in 0..<5 { try w.put("k", "\(i)") }
        let s = w.ws.makeStream()
        try s.watch("k", start: 3)
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(60))
            if !Task.isCancelled { s.close() }
        }
        var got: [String] = []
        for await r in s.responses {
            got += describe(r.events)
            if got.count == 4 { break }
        }
        watchdog.cancel()
        XCTAssertEqual(got, ["PUT k@3", "PUT k@4", "PUT k@5", "PUT k@6"])
    }
}
