@testable import Lease
import Storage
import XCTest

final class LessorApplyTests: LessorTestCase {
    func testGrantRaisesToMinTTL() throws {
        let l = try makeLessor(minTTL: 5)
        XCTAssertEqual(try l.grant(id: 1, ttl: 2).ttl, 5)
        XCTAssertEqual(try l.grant(id: 2, ttl: -7).ttl, 5)
        XCTAssertEqual(try l.grant(id: 3, ttl: 10).ttl, 10)
        XCTAssertEqual(l.lookup(id: 1)?.ttl, 5)
        XCTAssertEqual(l.leases(), [1, 2, 3])
    }

    func testGrantErrors() throws {
        let l = try makeLessor()
        XCTAssertThrowsError(try l.grant(id: 0, ttl: 10)) { XCTAssertEqual($0 as? LeaseError, .leaseNotFound) }
        XCTAssertThrowsError(try l.grant(id: 1, ttl: Lessor.maxTTL + 1)) {
            XCTAssertEqual($0 as? LeaseError, .ttlTooLarge)
        }
        XCTAssertEqual(try l.grant(id: 1, ttl: Lessor.maxTTL).ttl, Lessor.maxTTL)
        XCTAssertThrowsError(try l.grant(id: 1, ttl: 10)) { XCTAssertEqual($0 as? LeaseError, .leaseExists) }
        XCTAssertEqual(l.lookup(id: 1)?.ttl, Lessor.maxTTL, "a refused grant leaves the lease alone")
        XCTAssertEqual(l.count, 1)
    }

    func testRevokeReturnsAttachedKeysSorted() throws {
        let l = try makeLessor()
        _ = try l.grant(id: 7, ttl: 10)
        _ = try l.grant(id: 8, ttl: 10)
        for k in ["b", "ab", "a", "zz"] { try l.attach(id: 7, key: bytes(k)) }
        try l.attach(id: 7, key: [0xff, 0])
        try l.attach(id: 7, key: bytes("a"))  // idempotent
        try l.detach(id: 7, key: bytes("zz"))
        try l.attach(id: 8, key: bytes("other"))
        XCTAssertEqual(l.lookup(id: 7)?.keyCount, 4)
        XCTAssertEqual(l.timeToLive(id: 7, keys: true)?.keys, [bytes("a"), bytes("ab"), bytes("b"), [0xff, 0]])
        XCTAssertEqual(l.timeToLive(id: 7, keys: false)?.keys, [])

        XCTAssertEqual(try l.revoke(id: 7), [bytes("a"), bytes("ab"), bytes("b"), [0xff, 0]])
        XCTAssertNil(l.lookup(id: 7))
        XCTAssertNil(l.timeToLive(id: 7, keys: true))
        XCTAssertEqual(l.leases(), [8])
        XCTAssertThrowsError(try l.revoke(id: 7)) { XCTAssertEqual($0 as? LeaseError, .leaseNotFound) }
        XCTAssertThrowsError(try l.attach(id: 7, key: [1])) { XCTAssertEqual($0 as? LeaseError, .leaseNotFound) }
        XCTAssertThrowsError(try l.detach(id: 7, key: [1])) { XCTAssertEqual($0 as? LeaseError, .leaseNotFound) }
        XCTAssertEqual(try l.revoke(id: 8), [bytes("other")])
        XCTAssertEqual(l.leases(), [])
    }

    func testGrantAndRevokeInCallersTransaction() throws {
        let l = try makeLessor()
        try backend.update { tx in
            _ = try l.grant(id: 1, ttl: 10, in: tx)
            _ = try l.grant(id: 2, ttl: 20, in: tx)
            // The caller's transaction sees its own writes; readers do not until commit.
            XCTAssertNotNil(try tx.get(.lease, LeaseCodec.key(1)))
            XCTAssertNil(try backend.read().get(.lease, LeaseCodec.key(1)))
        }
        try backend.update { tx in
            try l.attach(id: 1, key: [9])
            XCTAssertEqual(try l.revoke(id: 1, in: tx), [[9]])
        }
        let r = try backend.read()
        XCTAssertNil(try r.get(.lease, LeaseCodec.key(1)))
        XCTAssertEqual(try r.get(.lease, LeaseCodec.key(2)), [0x08, 0x02, 0x10, 20])
    }

    func testPersistenceAcrossReopen() throws {
        do {
            let l = try makeLessor(minTTL: 1)
            _ = try l.grant(id: 1, ttl: 2)
            _ = try l.grant(id: 0x694d_7abc_1234, ttl: 30)
            _ = try l.grant(id: -5, ttl: 40)
            _ = try l.grant(id: 4, ttl: 50)
            _ = try l.revoke(id: 4)
            try l.checkpoint(id: 1, remainingTTL: 1)  // memory only, as etcd 3.4
        }
        backend = nil
        backend = try db.open()
        let l = try makeLessor(minTTL: 3)
        XCTAssertEqual(l.leases(), [-5, 1, 0x694d_7abc_1234])
        XCTAssertEqual(l.lookup(id: 1), LeaseInfo(id: 1, ttl: 3, remaining: foreverSeconds, keyCount: 0),
                       "restored TTLs are raised to the new minimum")
        XCTAssertEqual(l.lookup(id: 0x694d_7abc_1234)?.ttl, 30)
        XCTAssertEqual(l.lookup(id: -5)?.ttl, 40)
        XCTAssertNil(l.lookup(id: 4))
        XCTAssertFalse(l.isPrimary)
        // The record is etcd's: key = 8 big-endian bytes, value = leasepb.Lease.
        let raw = try backend.read().get(.lease, [0, 0, 0x69, 0x4d, 0x7a, 0xbc, 0x12, 0x34])
        XCTAssertEqual(raw, [0x08, 0xb4, 0xa4, 0xf0, 0xd5, 0xd7, 0xa9, 0x1a, 0x10, 30])
    }

    func testRestoredLeasesDoNotExpireBeforePromote() throws {
        do {
            let l = try makeLessor()
            l.promote(extend: .zero)
            _ = try l.grant(id: 1, ttl: 5)
        }
        backend = nil
        backend = try db.open()
        let l = try makeLessor()
        clock.advance(.seconds(3600))
        XCTAssertEqual(l.expiredLeases(limit: 100), [])
        XCTAssertEqual(remaining(l, 1), foreverSeconds)
        l.promote(extend: .seconds(1))
        XCTAssertEqual(remaining(l, 1), 6)
        clock.advance(.milliseconds(5999))
        XCTAssertEqual(l.expiredLeases(limit: 100), [])
        clock.advance(.milliseconds(1))
        XCTAssertEqual(l.expiredLeases(limit: 100), [1])
    }

    func testCorruptRecordRefusesToOpen() throws {
        try backend.update { tx in try tx.put(.lease, LeaseCodec.key(1), [0x08]) }
        XCTAssertThrowsError(try makeLessor()) { err in
            guard case .storage = err as? LeaseError else { return XCTFail("\(err)") }
        }
    }
}
