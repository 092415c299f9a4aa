@testable import Lease
import Storage
import XCTest

final class LessorExpiryTests: LessorTestCase {
    func testGrantCountsDownOnlyWhenPrimary() throws {
        let l = try makeLessor()
        _ = try l.grant(id: 1, ttl: 10)
        XCTAssertEqual(l.lookup(id: 1)?.remaining, foreverSeconds)
        XCTAssertEqual(try l.renew(id: 1), 10, "not primary: answers the TTL, changes nothing")
        l.promote(extend: .zero)
        XCTAssertTrue(l.isPrimary)
        _ = try l.grant(id: 2, ttl: 4)
        XCTAssertEqual(l.lookup(id: 2)?.remaining, 4)
        clock.advance(.seconds(4))
        XCTAssertEqual(l.expiredLeases(limit: 10), [2])
    }

    func testPromoteRefreshesExpiries() throws {
        let l = try makeLessor()
        l.promote(extend: .zero)
        _ = try l.grant(id: 1, ttl: 10)
        clock.advance(.seconds(8))
        XCTAssertEqual(remaining(l, 1), 2)
        l.demote()
        XCTAssertFalse(l.isPrimary)
        XCTAssertEqual(remaining(l, 1), foreverSeconds)
        clock.advance(.seconds(100))
        XCTAssertEqual(l.expiredLeases(limit: 10), [], "a demoted lessor expires nothing")
        l.promote(extend: .seconds(2))
        XCTAssertEqual(remaining(l, 1), 12)
        clock.advance(.milliseconds(11_999))
        XCTAssertEqual(l.expiredLeases(limit: 10), [])
        clock.advance(.milliseconds(1))
        XCTAssertEqual(l.expiredLeases(limit: 10), [1])
    }

    func testPromoteUsesCheckpointedRemainder() throws {
        let l = try makeLessor()
        _ = try l.grant(id: 1, ttl: 100)
        try l.checkpoint(id: 1, remainingTTL: 7)
        try l.checkpoint(id: 99, remainingTTL: 7)  // unknown: ignored
        l.promote(extend: .zero)
        XCTAssertEqual(remaining(l, 1), 7)
        XCTAssertEqual(l.lookup(id: 1)?.ttl, 100)
    }

    func testRenewExtends() throws {
        let l = try makeLessor()
        l.promote(extend: .zero)
        _ = try l.grant(id: 1, ttl: 10)
        clock.advance(.seconds(9))
        XCTAssertEqual(try l.renew(id: 1), 10)
        XCTAssertEqual(remaining(l, 1), 10)
        clock.advance(.seconds(9))
        XCTAssertEqual(l.expiredLeases(limit: 10), [], "renewed at 9 s, so alive at 18 s")
        clock.advance(.seconds(1))
        XCTAssertEqual(l.expiredLeases(limit: 10), [1])
        XCTAssertThrowsError(try l.renew(id: 1), "expired, awaiting its revoke") {
            XCTAssertEqual($0 as? LeaseError, .leaseNotFound)
        }
        XCTAssertThrowsError(try l.renew(id: 2)) { XCTAssertEqual($0 as? LeaseError, .leaseNotFound) }
        _ = try l.revoke(id: 1)
        XCTAssertThrowsError(try l.renew(id: 1)) { XCTAssertEqual($0 as? LeaseError, .leaseNotFound) }
    }

    func testRenewAfterLongPromoteExtendExpiresOnTime() throws {
        let l = try makeLessor()
        _ = try l.grant(id: 1, ttl: 10)
        l.promote(extend: .seconds(100))
        XCTAssertEqual(remaining(l, 1), 110)
        clock.advance(.seconds(1))
        XCTAssertEqual(try l.renew(id: 1), 10)
        XCTAssertEqual(remaining(l, 1), 10)
        clock.advance(.seconds(10))
        XCTAssertEqual(l.expiredLeases(limit: 10), [1], "the keepalive moved the expiry earlier")
    }

    func testExpiredLeasesOrderLimitAndRetryInterval() throws {
        let l = try makeLessor()
        l.promote(extend: .zero)
        for (id, ttl) in [(5, 10), (3, 20), (9, 10), (1, 30), (7, 15)] as [(Int64, Int64)] {
            _ = try l.grant(id: id, ttl: ttl)
        }
        clock.advance(.seconds(21))
        XCTAssertEqual(l.expiredLeases(limit: 0), [])
        XCTAssertEqual(l.expiredLeases(limit: 2), [5, 9], "earliest expiry first, ties by ID")
        XCTAssertEqual(l.expiredLeases(limit: 10), [7, 3])
        XCTAssertEqual(l.expiredLeases(limit: 10), [], "handed out: withheld for the retry interval")
        _ = try l.revoke(id: 9)
        clock.advance(.milliseconds(2999))
        XCTAssertEqual(l.expiredLeases(limit: 10), [])
        clock.advance(.milliseconds(1))
        XCTAssertEqual(l.expiredLeases(limit: 10), [3, 5, 7], "offered again; the revoked one is gone")
        clock.advance(.seconds(6))
        // 3, 5, 7 were due again at 27 s, lease 1 expired at 30 s.
        XCTAssertEqual(l.expiredLeases(limit: 10), [3, 5, 7, 1])
        l.demote()
        XCTAssertEqual(l.expiredLeases(limit: 10), [])
    }

    func testTimeToLiveRoundsLikeEtcd() throws {
        let l = try makeLessor()
        XCTAssertNil(l.timeToLive(id: 1, keys: true))
        l.promote(extend: .zero)
        _ = try l.grant(id: 1, ttl: 10)
        try l.attach(id: 1, key: bytes("k2"))
        try l.attach(id: 1, key: bytes("k1"))
        var ttl = try XCTUnwrap(l.timeToLive(id: 1, keys: true))
        XCTAssertEqual(ttl.grantedTTL, 10)
        XCTAssertEqual(ttl.remainingTTL, 10)
        XCTAssertEqual(ttl.keys, [bytes("k1"), bytes("k2")])
        // etcd reports int64(Remaining().Seconds()): truncated toward zero.
        clock.advance(.milliseconds(1))
        XCTAssertEqual(remaining(l, 1), 9)
        clock.advance(.milliseconds(8_998))
        XCTAssertEqual(remaining(l, 1), 1)
        clock.advance(.milliseconds(2))
        XCTAssertEqual(remaining(l, 1), 0)
        clock.advance(.milliseconds(1_000))  // 0.001 s past expiry, not yet revoked: still 0
        XCTAssertEqual(remaining(l, 1), 0)
        clock.advance(.milliseconds(2_500))  // 2.501 s past
        XCTAssertEqual(remaining(l, 1), -2)
        ttl = try XCTUnwrap(l.timeToLive(id: 1, keys: false))
        XCTAssertEqual(ttl.grantedTTL, 10)
        XCTAssertEqual(l.lookup(id: 1), LeaseInfo(id: 1, ttl: 10, remaining: -2, keyCount: 2))
    }

    func testPromoteSpreadsPiledUpExpiries() throws {
        let l = try makeLessor()
        let n = 3000
        try backend.update { tx in
            for id in 1...Int64(n) { _ = try l.grant(id: id, ttl: 10, in: tx) }
        }
        l.promote(extend: .zero)
        // All would expire at 10 s; etcd lets 3/4 of the revoke rate (750) expire per second
        // and pushes the rest back in proportion.
        var seen = Set<Int64>()
        var perStep: [Int] = []
        for step in 0...5 {
            clock.advance(step == 0 ? .seconds(10) : .seconds(1))
            let fresh = l.expiredLeases(limit: n).filter { seen.insert($0).inserted }
            perStep.append(fresh.count)
        }
        XCTAssertEqual(perStep, [750, 0, 750, 750, 750, 0])
        XCTAssertEqual(seen.count, n)
    }

    func testPromoteSpreadIsDeterministic() throws {
        let l = try makeLessor()
        try backend.update { tx in
            for id in 1...Int64(1600) { _ = try l.grant(id: id * 7919 % 100_003, ttl: 10, in: tx) }
        }
        l.promote(extend: .zero)
        clock.advance(.seconds(10))
        // The first 750 in (expiry, ID) order keep their expiry, whatever the hash order.
        let all = l.leases()
        XCTAssertEqual(l.expiredLeases(limit: 5000), Array(all.prefix(750)))
    }

    func testHugeTTLsAndExtendsSaturate() throws {
        let l = try makeLessor()
        try backend.update { tx in
            for id in 1...Int64(Lessor.revokeRate) { _ = try l.grant(id: id, ttl: Lessor.maxTTL, in: tx) }
        }
        l.promote(extend: .seconds(1_000_000_000_000))
        clock.advance(.seconds(1_000_000))
        XCTAssertEqual(l.expiredLeases(limit: 10), [])
        XCTAssertEqual(try l.renew(id: 1), Lessor.maxTTL)
        XCTAssertEqual(l.timeToLive(id: 1, keys: false)?.remainingTTL, Lessor.maxTTL)
        l.promote(extend: .seconds(5))
        XCTAssertEqual(l.timeToLive(id: 2, keys: false)?.remainingTTL, Lessor.maxTTL + 5)
    }

    func testSmallPromoteDoesNotSpread() throws {
        let l = try makeLessor()
        try backend.update { tx in
            for id in 1...Int64(Lessor.revokeRate - 1) { _ = try l.grant(id: id, ttl: 10, in: tx) }
        }
        l.promote(extend: .zero)
        clock.advance(.seconds(10))
        XCTAssertEqual(l.expiredLeases(limit: 5000).count, Lessor.revokeRate - 1)
    }

    func testTenThousandLeasesWithKeepalives() throws {
        let l = try makeLessor()
        l.promote(extend: .zero)
        let n: Int64 = 10_000
        try backend.update { tx in
            for id in 1...n {
                _ = try l.grant(id: id, ttl: 5 + id % 10, in: tx)
                try l.attach(id: id, key: bytes("key\(id)"))
            }
        }
        XCTAssertEqual(l.count, Int(n))
        // Keepalives for the even leases, three rounds a second apart.
        for _ in 0..<3 {
            clock.advance(.seconds(1))
            for id in stride(from: 2, through: n, by: 2) { XCTAssertEqual(try l.renew(id: id), 5 + id % 10) }
        }
        // At 8 s: odd leases with TTL <= 8 have expired; every even lease was renewed at 3 s.
        clock.advance(.seconds(5))
        var expired: [Int64] = []
        while true {
            let batch = l.expiredLeases(limit: 500)
            if batch.isEmpty { break }
            XCTAssertLessThanOrEqual(batch.count, 500)
            expired += batch
        }
        let want = (1...n).filter { (id: Int64) -> Bool in
            let ttl: Int64 = 5 + id % 10
            let lastRenew: Int64 = id % 2 == 1 ? 0 : 3
            return lastRenew + ttl <= 8
        }
        XCTAssertEqual(expired.sorted(), want)
        try backend.update { tx in
            for id in expired { XCTAssertEqual(try l.revoke(id: id, in: tx), [bytes("key\(id)")]) }
        }
        XCTAssertEqual(l.count, Int(n) - want.count)
        // Reopen: all survivors restored, counting nothing until promoted; promote spreads the
        // 7,000 over about 10 s beyond their TTLs (at most 14 s).
        let reopened = try makeLessor()
        XCTAssertEqual(reopened.leases(), l.leases())
        clock.advance(.seconds(60))
        XCTAssertEqual(reopened.expiredLeases(limit: 20_000), [])
        reopened.promote(extend: .zero)
        clock.advance(.seconds(14))
        let early = reopened.expiredLeases(limit: 20_000).count
        XCTAssertGreaterThan(early, 0)
        XCTAssertLessThan(early, l.count)
        clock.advance(.seconds(30))
        XCTAssertEqual(reopened.expiredLeases(limit: 20_000).count, l.count)
    }
}
