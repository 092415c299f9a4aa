import GoSyntax
import XCTest
@testable import API

/// The schedules of etcd's compactors (v3compactor), without a clock: what is compacted when.
final class AutoCompactionTests: XCTestCase {
    func testPeriodicSamplesATenthOfThePeriodAndCompactsTheSampleAPeriodOld() {
        let t0 = ContinuousClock.now
        var p = PeriodicCompaction(period: .seconds(10), start: t0)
        XCTAssertEqual(p.retryInterval, .seconds(1))
        XCTAssertEqual(p.retentions, 11)
        // Revision 100 + i at the start of wait i; nothing before a whole period has passed.
        for i in 0..<10 {
            p.record(100 + Int64(i))
            XCTAssertNil(p.due(now: t0 + .seconds(i + 1) - .milliseconds(1), leading: true))
        }
        p.record(110)
        XCTAssertEqual(p.due(now: t0 + .seconds(10), leading: true), 100, "the sample taken a period ago")
        p.finished(ok: true, now: t0 + .seconds(10))
        // The next comes a compact interval (the period) after that success, with the window moved on.
        for i in 11..<20 {
            p.record(100 + Int64(i))
            XCTAssertNil(p.due(now: t0 + .seconds(i), leading: true))
        }
        p.record(120)
        XCTAssertEqual(p.due(now: t0 + .seconds(20), leading: true), 110)
    }

    func testPeriodicRetriesEveryTenthAfterAFailureAndPausesOffTheLeader() {
        let t0 = ContinuousClock.now
        var p = PeriodicCompaction(period: .seconds(10), start: t0)
        for i in 0...10 { p.record(Int64(i + 1)) }
        XCTAssertNil(p.due(now: t0 + .seconds(30), leading: false), "a follower is paused")
        XCTAssertEqual(p.due(now: t0 + .seconds(30), leading: true), 1)
        p.finished(ok: false, now: t0 + .seconds(30))
        p.record(12)
        XCTAssertEqual(p.due(now: t0 + .seconds(31), leading: true), 2, "retried at the next sample, window moved")
    }

    func testPeriodicOverAnHourSamplesEverySixMinutes() {
        let p = PeriodicCompaction(period: .seconds(24 * 3600), start: .now)
        XCTAssertEqual(p.retryInterval, .seconds(360))
        XCTAssertEqual(p.retentions, 241)
    }

    func testLogLinesWriteDurationsAsGoDoes() {
        XCTAssertEqual(GoSyntax.formatDuration(.seconds(3600)), "1h0m0s")
        XCTAssertEqual(GoSyntax.formatDuration(.seconds(300)), "5m0s")
        XCTAssertEqual(GoSyntax.formatDuration(.milliseconds(100)), "100ms")
        XCTAssertEqual(GoSyntax.formatDuration(.seconds(1)), "1s")
    }

    func testRevisionKeepsTheRetentionAndSkipsWhatItCompactedLast() {
        var r = RevisionCompaction(retention: 100)
        XCTAssertNil(r.due(currentRevision: 100, leading: true), "nothing to compact yet")
        XCTAssertEqual(r.due(currentRevision: 150, leading: true), 50)
        XCTAssertNil(r.due(currentRevision: 150, leading: false))
        r.finished(revision: 50, ok: true)
        XCTAssertNil(r.due(currentRevision: 150, leading: true), "no write since")
        XCTAssertEqual(r.due(currentRevision: 151, leading: true), 51)
        r.finished(revision: 51, ok: false)
        XCTAssertEqual(r.due(currentRevision: 151, leading: true), 51, "a failure is retried")
    }
}
