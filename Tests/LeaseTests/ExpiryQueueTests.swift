@testable import Lease
import XCTest

final class ExpiryQueueTests: XCTestCase {
    /// Random sets and removes against a dictionary, draining in (time, ID) order.
    func testMatchesReference() {
        var rng: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next(_ n: Int) -> Int {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(rng >> 33) % n
        }
        var q = ExpiryQueue()
        var ref: [Int64: Int64] = [:]
        for _ in 0..<20_000 {
            let id = Int64(next(500))
            if next(4) == 0 {
                q.remove(id)
                ref[id] = nil
            } else {
                let t = Int64(next(1000))
                q.set(id, time: t)
                ref[id] = t
            }
            XCTAssertEqual(q.count, ref.count)
            if let f = q.first {
                let best = ref.min { ($0.value, $0.key) < ($1.value, $1.key) }!
                XCTAssertEqual(f.id, best.key)
                XCTAssertEqual(f.time, best.value)
            }
        }
        let want = ref.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key)
        var got: [Int64] = []
        while let f = q.first {
            XCTAssertEqual(q.time(of: f.id), ref[f.id])
            got.append(f.id)
            q.remove(f.id)
        }
        XCTAssertEqual(got, want)
    }
}
