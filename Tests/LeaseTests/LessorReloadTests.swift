@testable import Lease
import Storage
import XCTest

final class LessorReloadTests: LessorTestCase {
    func testReloadHasTheNewLeasesAndNoneOfTheOld() throws {
        // Another member's backend: leases 1 and 2 (2 with a persisted checkpoint).
        let otherDB = TempDB()
        defer { otherDB.remove() }
        let copy = otherDB.dir + "/snap.db"
        do {
            let other = try otherDB.open()
            let l = try makeLessor(backend: other)
            l.enableCheckpoints(interval: .seconds(1), persist: true)
            _ = try l.grant(id: 1, ttl: 10)
            _ = try l.grant(id: 2, ttl: 20)
            try l.checkpoint(id: 2, remainingTTL: 15)
            try other.copy(to: copy)
        }

        // This member: leases 3 and 4, keys attached, primary, checkpoints scheduled.
        let lessor = try makeLessor()
        lessor.enableCheckpoints(interval: .seconds(1))
        _ = try lessor.grant(id: 3, ttl: 30)
        _ = try lessor.grant(id: 4, ttl: 40)
        try lessor.attach(id: 3, key: bytes("k"))
        lessor.promote(extend: .zero)
        try lessor.checkpoint(id: 4, remainingTTL: 25)
        _ = try lessor.renew(id: 4)  // leaves a pending clear
        XCTAssertTrue(lessor.isPrimary)

        try backend.replaceContents(withCopyAt: copy)
        try lessor.reload()

        XCTAssertEqual(lessor.leases(), [1, 2])
        XCTAssertEqual(lessor.count, 2)
        XCTAssertNil(lessor.lookup(id: 3))
        XCTAssertNil(lessor.lookup(id: 4))
        XCTAssertFalse(lessor.isPrimary)
        XCTAssertEqual(lessor.lookup(id: 1), LeaseInfo(id: 1, ttl: 10, remaining: foreverSeconds, keyCount: 0))
        XCTAssertEqual(lessor.lookup(id: 2)?.ttl, 20)
        XCTAssertEqual(remaining(lessor, 2), foreverSeconds)
        // Nothing expires or checkpoints while not primary, however long it waits.
        clock.advance(.seconds(100))
        XCTAssertEqual(lessor.expiredLeases(limit: 10), [])
        XCTAssertTrue(lessor.dueCheckpoints().isEmpty)
        XCTAssertThrowsError(try lessor.attach(id: 3, key: bytes("k"))) { XCTAssertEqual($0 as? LeaseError, .leaseNotFound) }
        XCTAssertThrowsError(try lessor.revoke(id: 4)) { XCTAssertEqual($0 as? LeaseError, .leaseNotFound) }

        // The server re-attaches keys from the store, then a promote starts the countdowns
        // (lease 2 from its persisted checkpoint).
        try lessor.attach(id: 1, key: bytes("a"))
        XCTAssertEqual(lessor.timeToLive(id: 1, keys: true)?.keys, [bytes("a")])
        lessor.promote(extend: .zero)
        XCTAssertEqual(remaining(lessor, 1), 10)
        XCTAssertEqual(remaining(lessor, 2), 15)
        clock.advance(.seconds(11))
        XCTAssertEqual(lessor.expiredLeases(limit: 10), [1])
        // The old IDs are free again.
        XCTAssertEqual(try lessor.grant(id: 3, ttl: 5).id, 3)
        XCTAssertEqual(try lessor.revoke(id: 1), [bytes("a")])
    }

    func testReloadFailsCleanlyOnAnUndecodableRecord() throws {
        let lessor = try makeLessor()
        _ = try lessor.grant(id: 7, ttl: 10)
        // A record that is not a leasepb.Lease (wire type 7 does not exist).
        try backend.update { try $0.put(.lease, [0, 0, 0, 0, 0, 0, 0, 9], [0x0F]) }
        XCTAssertThrowsError(try lessor.reload())
        XCTAssertEqual(lessor.leases(), [7])
    }
}
