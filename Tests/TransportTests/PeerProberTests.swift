import NIOCore
import XCTest

@testable import Transport

/// The prober's bookkeeping against xiang90/probing (which etcd's rafthttp uses): the smoothed
/// round-trip time, health, and the monitor's cadence.
final class PeerProberTests: XCTestCase {
    func testSmoothedRoundTripStartsFromZero() {
        var s = ProbeStatus()
        s.record(rtt: 0.008)
        // probing's SRTT starts at 0, so the first sample counts α of itself.
        XCTAssertEqual(s.srtt, 0.001, accuracy: 1e-12)
        s.record(rtt: 0.008)
        XCTAssertEqual(s.srtt, 0.875 * 0.001 + 0.125 * 0.008, accuracy: 1e-12)
        XCTAssertTrue(s.healthy)
        XCTAssertEqual(s.total, 2)
    }

    func testSmoothedRoundTripConverges() {
        var s = ProbeStatus()
        for _ in 0..<200 { s.record(rtt: 0.002) }
        XCTAssertEqual(s.srtt, 0.002, accuracy: 1e-9)
    }

    func testFailureKeepsTheEstimateAndMarksUnhealthy() {
        var s = ProbeStatus()
        s.record(rtt: 0.004)
        let before = s.srtt
        s.recordFailure("connection refused")
        XCTAssertFalse(s.healthy)
        XCTAssertEqual(s.srtt, before, "probing leaves SRTT alone on a failure")
        XCTAssertEqual(s.lastError, "connection refused")
        XCTAssertEqual(s.losses, 1)
        s.record(rtt: 0.004)
        XCTAssertTrue(s.healthy)
        XCTAssertNil(s.lastError)
    }

    func testMonitorLooksSoonerWhileUnhealthy() {
        var s = ProbeStatus()
        XCTAssertEqual(ProbeMonitor.nextInterval(after: s), .seconds(5), "no probe answered yet")
        s.record(rtt: 0.001)
        XCTAssertEqual(ProbeMonitor.nextInterval(after: s), .seconds(30))
        s.recordFailure("timeout")
        XCTAssertEqual(ProbeMonitor.nextInterval(after: s), .seconds(5))
    }

    func testHealthAnswer() {
        XCTAssertTrue(PeerProber.isHealthy(Array(#"{"OK":true,"Now":"2026-12-01T10:00:00.123456789Z"}"#.utf8) + [10]))
        XCTAssertFalse(PeerProber.isHealthy(Array(#"{"OK":false,"Now":"2026-12-01T10:00:00Z"}"#.utf8)))
        XCTAssertFalse(PeerProber.isHealthy([]))
        XCTAssertFalse(PeerProber.isHealthy(Array("404 page not found\n".utf8)))
    }

    /// Our own /raft/probing answer is one the prober accepts.
    func testOwnProbingAnswerIsHealthy() {
        XCTAssertTrue(PeerProber.isHealthy(PeerServerHandler.probingJSON()))
    }
}
