import NIOCore
import NIOEmbedded
import Synchronization
import XCTest

@testable import Gateway

/// The gateway's `--max-concurrent-streams` bound: calls beyond it wait, first come first served,
/// and a waiter that leaves gives nothing away.
final class StreamSlotsTests: XCTestCase {
    private let loop = EmbeddedEventLoop()

    /// Grants recorded in order.
    private final class Log: Sendable {
        let order = Mutex<[Int]>([])
        func callback(_ n: Int) -> @Sendable () -> Void { { self.order.withLock { $0.append(n) } } }
        var granted: [Int] { order.withLock { $0 } }
    }

    func testFreeSlotsAreGrantedAtOnce() {
        let slots = StreamSlots(capacity: 2)
        let log = Log()
        XCTAssertEqual(slots.acquire(on: loop, log.callback(1)), .granted)
        XCTAssertEqual(slots.acquire(on: loop, log.callback(2)), .granted)
        XCTAssertEqual(slots.inUse, 2)
        loop.run()
        XCTAssertEqual(log.granted, [], "a slot taken at once runs no callback")
    }

    func testWaitersGetReleasedSlotsInOrder() {
        let slots = StreamSlots(capacity: 1)
        let log = Log()
        XCTAssertEqual(slots.acquire(on: loop, log.callback(0)), .granted)
        guard case .waiting = slots.acquire(on: loop, log.callback(1)),
              case .waiting = slots.acquire(on: loop, log.callback(2)) else {
            return XCTFail("a full pool must queue")
        }
        loop.run()
        XCTAssertEqual(log.granted, [])
        slots.release()
        loop.run()
        XCTAssertEqual(log.granted, [1])
        XCTAssertEqual(slots.inUse, 1, "the slot passed to the waiter, not back to the pool")
        slots.release()
        loop.run()
        XCTAssertEqual(log.granted, [1, 2])
        slots.release()
        XCTAssertEqual(slots.inUse, 0)
    }

    func testWithdrawnWaiterIsSkipped() {
        let slots = StreamSlots(capacity: 1)
        let log = Log()
        XCTAssertEqual(slots.acquire(on: loop, log.callback(0)), .granted)
        guard case .waiting(let first) = slots.acquire(on: loop, log.callback(1)),
              case .waiting = slots.acquire(on: loop, log.callback(2)) else {
            return XCTFail("a full pool must queue")
        }
        XCTAssertTrue(slots.withdraw(first))
        XCTAssertFalse(slots.withdraw(first), "a ticket leaves once")
        slots.release()
        loop.run()
        XCTAssertEqual(log.granted, [2])
    }

    func testWithdrawAfterHandOverOwnsTheSlot() {
        let slots = StreamSlots(capacity: 1)
        let log = Log()
        XCTAssertEqual(slots.acquire(on: loop, log.callback(0)), .granted)
        guard case .waiting(let ticket) = slots.acquire(on: loop, log.callback(1)) else {
            return XCTFail("a full pool must queue")
        }
        slots.release()
        XCTAssertFalse(slots.withdraw(ticket), "the grant is on its way")
        XCTAssertEqual(slots.inUse, 1)
        slots.release()
        XCTAssertEqual(slots.inUse, 0)
    }

    func testZeroCapacityQueuesEverything() {
        let slots = StreamSlots(capacity: 0)
        guard case .waiting = slots.acquire(on: loop, {}) else { return XCTFail("nothing is free") }
    }
}
