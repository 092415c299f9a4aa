import Glibc
@testable import Lease
import Storage
import Synchronization
import XCTest

/// A clock that moves only when told.
final class ManualClock: Sendable {
    let start = ContinuousClock.now
    private let offset = Mutex<Duration>(.zero)

    func now() -> ContinuousClock.Instant { start + offset.withLock { $0 } }
    func advance(_ d: Duration) { offset.withLock { $0 += d } }
}

/// A fresh temporary directory holding one LMDB file; removed by `remove()`.
struct TempDB {
    let dir: String
    var path: String { dir + "/db" }

    init() {
        var template = Array("/tmp/lease-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        dir = String(cString: p!)
    }

    func open() throws -> Backend {
        // A small map: tests never come near it and sparse files stay cheap anyway.
        try Backend(path: path, options: .init(quotaBytes: 64 << 20))
    }

    func remove() { _ = system("rm -rf '\(dir)'") }
}

class LessorTestCase: XCTestCase {
    var db: TempDB!
    var backend: Backend!
    var clock: ManualClock!

    override func setUpWithError() throws {
        db = TempDB()
        backend = try db.open()
        clock = ManualClock()
    }

    override func tearDown() {
        backend = nil
        db.remove()
    }

    func makeLessor(minTTL: Int64 = 1, backend: Backend? = nil) throws -> Lessor {
        let clock = self.clock!
        return try Lessor(backend: backend ?? self.backend, minTTL: minTTL, now: { clock.now() })
    }

    func remaining(_ lessor: Lessor, _ id: Int64) -> Int64? { lessor.timeToLive(id: id, keys: false)?.remainingTTL }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// What the lessor reports as remaining seconds for a lease that is not counting down.
let foreverSeconds = Int64.max / 1_000_000_000
