import XCTest

@testable import Server

/// etcd's heartbeat timeout detector: a heartbeat to a follower later than two intervals after
/// the previous one to it is a send failure.
final class HeartbeatTimeoutsTests: XCTestCase {
    private let ms: UInt64 = 1_000_000

    func testOnTimeAndLateHeartbeats() {
        var t = HeartbeatTimeouts(heartbeatMs: 100)
        XCTAssertNil(t.observe(2, now: 1_000 * ms), "the first heartbeat has nothing to compare with")
        XCTAssertNil(t.observe(2, now: 1_100 * ms))
        XCTAssertNil(t.observe(2, now: 1_300 * ms), "exactly two intervals is on time")
        XCTAssertEqual(t.observe(2, now: 1_550 * ms), 50 * ms)
        XCTAssertNil(t.observe(3, now: 1_550 * ms), "followers are tracked apart")
    }

    func testResetForgetsEveryFollower() {
        var t = HeartbeatTimeouts(heartbeatMs: 100)
        _ = t.observe(2, now: 0)
        t.reset()
        XCTAssertNil(t.observe(2, now: 10_000 * ms), "a new leadership starts afresh")
    }
}
