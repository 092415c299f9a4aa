import XCTest

@testable import GRPC

/// grpc-go's server keepalive as etcd sets it up, without clock or socket.
final class ServerKeepaliveTests: XCTestCase {
    private let t0 = ContinuousClock.now
    private func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int(seconds * 1000)) }

    func testPingsFasterThanMinTimeEarnStrikesAndTheThirdPastTwoCloses() {
        var k = ServerKeepalive(options: .init(minTime: .seconds(5)), now: t0)
        XCTAssertEqual([0, 1, 2, 3].map { k.pingReceived(at: at($0), openCalls: 1) }, [false, false, false, true])
    }

    func testPingsAtMinTimeAreFine() {
        var k = ServerKeepalive(options: .init(minTime: .seconds(5)), now: t0)
        for i in 0..<20 { XCTAssertFalse(k.pingReceived(at: at(Double(i) * 5), openCalls: 2)) }
    }

    func testSendingHeadersOrDataForgivesTheNextPing() {
        var k = ServerKeepalive(options: .init(minTime: .seconds(5)), now: t0)
        XCTAssertFalse(k.pingReceived(at: at(0), openCalls: 1))
        XCTAssertFalse(k.pingReceived(at: at(1), openCalls: 1))
        XCTAssertFalse(k.pingReceived(at: at(2), openCalls: 1))
        k.sentHeadersOrData()
        XCTAssertFalse(k.pingReceived(at: at(3), openCalls: 1), "strikes back to 0")
        XCTAssertFalse(k.pingReceived(at: at(4), openCalls: 1))
        XCTAssertFalse(k.pingReceived(at: at(5), openCalls: 1))
        XCTAssertTrue(k.pingReceived(at: at(6), openCalls: 1))
    }

    func testWithoutCallsOnePingInTwoHoursIsAllowed() {
        var k = ServerKeepalive(options: .init(minTime: .seconds(5)), now: t0)
        XCTAssertEqual([0, 600, 1200, 1800].map { k.pingReceived(at: at($0), openCalls: 0) }, [false, false, false, true])
        var patient = ServerKeepalive(options: .init(), now: t0)
        for i in 0..<5 { XCTAssertFalse(patient.pingReceived(at: at(Double(i) * 7200), openCalls: 0)) }
    }

    func testZeroMinTimeLeavesGrpcGosFiveMinutes() {
        var k = ServerKeepalive(options: .init(minTime: .zero), now: t0)
        XCTAssertEqual([0, 60, 120, 180].map { k.pingReceived(at: at($0), openCalls: 1) }, [false, false, false, true])
    }

    func testAnIdleClientIsPingedThenClosed() {
        var k = ServerKeepalive(options: .init(interval: .seconds(10), timeout: .seconds(3)), now: t0)
        XCTAssertEqual(k.firstTimer, .seconds(10))
        XCTAssertEqual(k.timerFired(at: at(10)), .ping(then: .seconds(3)))
        XCTAssertEqual(k.timerFired(at: at(13)), .close)
    }

    func testReadingPutsThePingOff() {
        var k = ServerKeepalive(options: .init(interval: .seconds(10), timeout: .seconds(3)), now: t0)
        k.read(at: at(4))
        XCTAssertEqual(k.timerFired(at: at(10)), .wait(.seconds(4)))
        XCTAssertEqual(k.timerFired(at: at(14)), .ping(then: .seconds(3)))
        k.read(at: at(15))  // the ping's acknowledgement
        XCTAssertEqual(k.timerFired(at: at(17)), .wait(.seconds(8)))
        XCTAssertEqual(k.timerFired(at: at(25)), .ping(then: .seconds(3)))
    }

    func testATimeoutLongerThanTheIntervalIsWaitedOutInSteps() {
        var k = ServerKeepalive(options: .init(interval: .seconds(2), timeout: .seconds(5)), now: t0)
        XCTAssertEqual(k.timerFired(at: at(2)), .ping(then: .seconds(2)))
        XCTAssertEqual(k.timerFired(at: at(4)), .wait(.seconds(2)))
        XCTAssertEqual(k.timerFired(at: at(6)), .wait(.seconds(1)))
        XCTAssertEqual(k.timerFired(at: at(7)), .close)
    }

    func testNoServerPingsWithoutIntervalOrTimeout() {
        XCTAssertNil(ServerKeepalive(options: .init(interval: .zero), now: t0).firstTimer)
        XCTAssertNil(ServerKeepalive(options: .init(timeout: .zero), now: t0).firstTimer)
    }
}
