import Dispatch
@testable import Lease
import Storage
import XCTest

final class LessorConcurrencyTests: LessorTestCase {
    /// Keepalives, TimeToLive and expiry scans from several threads while the "apply thread"
    /// grants, attaches and revokes: no lost update, and the final state is the log's.
    func testConcurrentKeepalivesDuringApply() throws {
        let l = try makeLessor()
        l.promote(extend: .zero)
        let n: Int64 = 2000
        try backend.update { tx in
            for id in 1...n { _ = try l.grant(id: id, ttl: 60, in: tx) }
        }
        let apply = DispatchQueue(label: "apply")
        let group = DispatchGroup()
        group.enter()
        apply.async { [backend = backend!] in
            defer { group.leave() }
            do {
                try backend.update { tx in
                    for id in (n + 1)...(2 * n) {
                        _ = try l.grant(id: id, ttl: 60, in: tx)
                        try l.attach(id: id, key: bytes("k\(id)"))
                    }
                    for id in stride(from: 1, through: n, by: 2) { _ = try l.revoke(id: id, in: tx) }
                }
            } catch {
                XCTFail("\(error)")
            }
        }
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for round in 0..<5 {
                for id in stride(from: Int64(2 + 2 * worker), through: n, by: 8) {
                    XCTAssertEqual(try? l.renew(id: id), 60)
                    _ = l.timeToLive(id: id + n, keys: true)
                }
                _ = l.expiredLeases(limit: 100)
                _ = l.leases()
                if round == 2 { _ = l.lookup(id: 1) }
            }
        }
        group.wait()
        let want = (1...(2 * n)).filter { $0 > n || $0 % 2 == 0 }
        XCTAssertEqual(l.leases(), want)
        XCTAssertEqual(l.timeToLive(id: 2 * n, keys: true)?.keys, [bytes("k\(2 * n)")])
        XCTAssertEqual(l.expiredLeases(limit: 100), [])
        clock.advance(.seconds(60))
        XCTAssertEqual(l.expiredLeases(limit: 10_000), want)
    }
}
