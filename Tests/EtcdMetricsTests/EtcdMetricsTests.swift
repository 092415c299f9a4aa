@testable import EtcdMetrics
import XCTest

final class ProcessStatsTests: XCTestCase {
    // A real /proc/self/stat line with a command name holding a space and a parenthesis.
    private let stat = "4242 (etcd (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 130 0 0 20 0 12 0 "
        + "500 123456789 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"

    func testStatFieldsCountFromTheLastParenthesis() throws {
        let p = try XCTUnwrap(ProcessStats.parseStat(stat, pageSize: 4096, bootTime: 1_700_000_000))
        XCTAssertEqual(p.cpu, 3.8, accuracy: 1e-9)               // (250 + 130) ticks / 100
        XCTAssertEqual(p.virtual, 123_456_789)
        XCTAssertEqual(p.resident, 3000 * 4096)
        XCTAssertEqual(p.start, 1_700_000_005, accuracy: 1e-6)   // boot + 500 ticks
    }

    func testMalformedStatIsNil() {
        XCTAssertNil(ProcessStats.parseStat("", pageSize: 4096, bootTime: 0))
        XCTAssertNil(ProcessStats.parseStat("12 (x) S 1 2", pageSize: 4096, bootTime: 0))
        XCTAssertNil(ProcessStats.parseStat(stat.replacingOccurrences(of: " 250 ", with: " x "), pageSize: 4096, bootTime: 0))
    }

    func testBootTimeAndLimits() {
        XCTAssertEqual(ProcessStats.parseBootTime("cpu  1 2 3\nintr 5\nbtime 1712345678\nprocesses 9\n"), 1_712_345_678)
        XCTAssertNil(ProcessStats.parseBootTime("cpu 1\n"))
        let limits = """
            Limit                     Soft Limit           Hard Limit           Units
            Max open files            20000                524288               files
            Max address space         unlimited            unlimited            bytes
            """
        XCTAssertEqual(ProcessStats.parseLimit(limits, row: "Max open files"), 20000)
        XCTAssertEqual(ProcessStats.parseLimit(limits, row: "Max address space"), Double(UInt64.max))
        XCTAssertNil(ProcessStats.parseLimit(limits, row: "Max processes"))
    }

    func testCurrentProcessReadsSomething() {
        let s = ProcessStats.current()
        XCTAssertGreaterThan(s.residentBytes, 0)
        XCTAssertGreaterThan(s.openFDs, 0)
        XCTAssertGreaterThan(s.maxFDs, 0)
        XCTAssertGreaterThan(s.startTimeSeconds, 1_500_000_000)
    }
}

final class MetersRenderingTests: XCTestCase {
    func testEtcdDiskBucketsRenderAsGoDoes() {
        XCTAssertEqual(Meters.diskBuckets.map(\.description), [
            "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512",
            "1.024", "2.048", "4.096", "8.192",
        ])
        XCTAssertEqual(PeerMeters.rttBuckets.first?.description, "0.0001")
        XCTAssertEqual(PeerMeters.rttBuckets.last?.description, "3.2768")
        XCTAssertEqual(Meters.exponentialBuckets(start: 1, factor: 2, count: 0), [])
    }

    func testHistogramRendersCumulativeBuckets() {
        let h = Meters.histogram("etcd_test_fsync_seconds", "A test histogram.", Meters.diskBuckets)
        h.record(0.003)
        h.record(9.0)
        let lines = Meters.render {}.split(separator: "\n")
        XCTAssertTrue(lines.contains("# TYPE etcd_test_fsync_seconds histogram"))
        XCTAssertTrue(lines.contains("# HELP etcd_test_fsync_seconds A test histogram."))
        XCTAssertTrue(lines.contains("# TYPE etcd_disk_wal_fsync_duration_seconds histogram"))
        func value(_ series: String) -> String? {
            lines.first { $0.hasPrefix(series + " ") }.map { String($0.dropFirst(series.count + 1)) }
        }
        XCTAssertEqual(value(#"etcd_test_fsync_seconds_bucket{le="0.002"}"#), "0")
        XCTAssertEqual(value(#"etcd_test_fsync_seconds_bucket{le="0.004"}"#), "1")
        XCTAssertEqual(value(#"etcd_test_fsync_seconds_bucket{le="8.192"}"#), "1")
        XCTAssertEqual(value(#"etcd_test_fsync_seconds_bucket{le="+Inf"}"#), "2")
        XCTAssertEqual(value("etcd_test_fsync_seconds_count"), "2")
        XCTAssertEqual(value("etcd_test_fsync_seconds_sum").flatMap(Double.init) ?? 0, 9.003, accuracy: 1e-9)
    }

    func testInfoGaugeKeepsOnlyTheCurrentLabel() {
        Meters.setClusterVersion("3.3")
        Meters.setClusterVersion("3.4")
        Meters.setClusterVersion("")
        let page = Meters.render {}
        XCTAssertTrue(page.contains("etcd_cluster_version{cluster_version=\"3.4\"} 1"))
        XCTAssertFalse(page.contains("cluster_version=\"3.3\""))
    }

    func testGRPCMethodSeriesExistForEveryCode() {
        let m = GRPCMethodMeters(service: "test.Svc", method: "Call", type: "unary", handlingTime: true)
        m.started.increment()
        m.handled[5].increment()
        let page = Meters.render {}
        XCTAssertTrue(page.contains(#"grpc_server_started_total{grpc_method="Call",grpc_service="test.Svc",grpc_type="unary"} 1"#))
        XCTAssertTrue(page.contains(#"grpc_server_handled_total{grpc_code="NotFound",grpc_method="Call",grpc_service="test.Svc",grpc_type="unary"} 1"#))
        XCTAssertTrue(page.contains(#"grpc_server_handled_total{grpc_code="Unauthenticated",grpc_method="Call",grpc_service="test.Svc",grpc_type="unary"} 0"#))
        XCTAssertTrue(page.contains("# TYPE grpc_server_handling_seconds histogram"))
        XCTAssertEqual(GRPCMethodMeters.codeNames.count, 17)
    }

    func testProcessMetricsAreOnThePage() {
        let page = Meters.render {}
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                     "process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes"] {
            XCTAssertTrue(page.contains("\n\(name) ") || page.hasPrefix("\(name) "), name)
        }
        XCTAssertTrue(page.contains("# TYPE process_cpu_seconds_total counter"))
    }
}
