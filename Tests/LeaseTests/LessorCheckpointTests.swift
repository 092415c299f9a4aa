@testable import Lease
import Storage
import XCTest

final class LessorCheckpointTests: LessorTestCase {
    func testOffByDefault() throws {
        let l = try makeLessor()
        l.promote(extend: .zero)
        _ = try l.grant(id: 1, ttl: 1000)
        clock.advance(.seconds(400))
        XCTAssertTrue(l.dueCheckpoints().isEmpty)
    }

    func testDueCheckpointsCarryCeiledRemainder() throws {
        let l = try makeLessor()
        l.enableCheckpoints(interval: .seconds(300))
        l.promote(extend: .zero)
        _ = try l.grant(id: 1, ttl: 1000)
        _ = try l.grant(id: 2, ttl: 200)  // shorter than the interval: never checkpointed
        _ = try l.grant(id: 3, ttl: 400)
        clock.advance(.milliseconds(299_999))
        XCTAssertTrue(l.dueCheckpoints().isEmpty)
        clock.advance(.milliseconds(1_500))  // 301.499 s: 698.501 s left -> 699
        let due = l.dueCheckpoints()
        XCTAssertEqual(due.map(\.id), [1, 3])
        XCTAssertEqual(due.map(\.remainingTTL), [699, 99])
        XCTAssertTrue(l.dueCheckpoints().isEmpty, "handed out once; the apply schedules the next")

        // The apply records the remainder; a new leader counts down from it.
        try l.checkpoint(id: 1, remainingTTL: 699)
        try l.checkpoint(id: 3, remainingTTL: 99)  // 99 s < interval: no next checkpoint
        try l.checkpoint(id: 42, remainingTTL: 5)  // unknown: ignored
        XCTAssertEqual(l.lookup(id: 1)?.ttl, 1000)
        l.demote()
        l.promote(extend: .zero)
        XCTAssertEqual(l.timeToLive(id: 1, keys: false)?.remainingTTL, 699)
        XCTAssertEqual(l.timeToLive(id: 3, keys: false)?.remainingTTL, 99)
        clock.advance(.seconds(300))
        XCTAssertEqual(l.dueCheckpoints().map(\.remainingTTL), [399])
    }

    func testRenewClearsRemainderThroughTheLog() throws {
        let l = try makeLessor()
        l.enableCheckpoints(interval: .seconds(10))
        l.promote(extend: .zero)
        _ = try l.grant(id: 1, ttl: 100)
        clock.advance(.seconds(10))
        XCTAssertEqual(l.dueCheckpoints().map(\.remainingTTL), [90])
        try l.checkpoint(id: 1, remainingTTL: 90)
        XCTAssertEqual(try l.renew(id: 1), 100)
        XCTAssertEqual(l.timeToLive(id: 1, keys: false)?.remainingTTL, 100, "renew restarts the full TTL")
        let clear = l.dueCheckpoints(limit: 1)
        XCTAssertEqual(clear.map(\.id), [1])
        XCTAssertEqual(clear.map(\.remainingTTL), [0])
        try l.checkpoint(id: 1, remainingTTL: 0)
        XCTAssertTrue(l.dueCheckpoints().isEmpty)
        l.demote()
        l.promote(extend: .zero)
        XCTAssertEqual(l.timeToLive(id: 1, keys: false)?.remainingTTL, 100)
    }

    func testPersistedCheckpointSurvivesRestart() throws {
        do {
            let l = try makeLessor()
            l.enableCheckpoints(persist: true)
            _ = try l.grant(id: 1, ttl: 1000)
            try l.checkpoint(id: 1, remainingTTL: 640)
            let tx = try backend.read()
            XCTAssertEqual(try tx.get(.lease, LeaseCodec.key(1)),
                           LeaseCodec.encode(.init(id: 1, ttl: 1000, remainingTTL: 640)))
        }
        let l = try makeLessor()
        l.promote(extend: .zero)
        XCTAssertEqual(l.timeToLive(id: 1, keys: false)?.remainingTTL, 640)
    }

    func testUnpersistedCheckpointIsMemoryOnly() throws {
        do {
            let l = try makeLessor()
            l.enableCheckpoints()
            _ = try l.grant(id: 1, ttl: 1000)
            try l.checkpoint(id: 1, remainingTTL: 640)
        }
        let l = try makeLessor()
        l.promote(extend: .zero)
        XCTAssertEqual(l.timeToLive(id: 1, keys: false)?.remainingTTL, 1000)
    }
}
