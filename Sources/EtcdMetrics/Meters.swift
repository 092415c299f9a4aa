import Glibc
import Prometheus

/// etcd 3.4's metrics, under its names, types, labels and help texts, in one registry.
///
/// Every metric object is made once (here, or once per peer / gRPC method by its owner) and kept:
/// an update on a hot path is one relaxed atomic add, never a registry lookup or a lock. Values
/// that are cheaper to read than to track (leader, indexes, sizes) are gauges set when `/metrics`
/// is scraped.
public enum Meters {
    /// The registry `/metrics` renders; swift-metrics users land here too (see `bootstrap`).
    public static let registry = PrometheusCollectorRegistry()

    // MARK: etcdserver (etcdserver/metrics.go)

    public static let leaderChanges = counter("etcd_server_leader_changes_seen_total",
                                              "The number of leader changes seen.")
    public static let proposalsFailed = counter("etcd_server_proposals_failed_total",
                                                "The total number of failed proposals seen.")
    public static let slowApplies = counter(
        "etcd_server_slow_apply_total",
        "The total number of slow apply requests (likely overloaded from slow disk).")
    public static let heartbeatSendFailures = counter(
        "etcd_server_heartbeat_send_failures_total",
        "The total number of leader heartbeat send failures (likely overloaded from slow disk).")
    public static let slowReadIndexes = counter(
        "etcd_server_slow_read_indexes_total",
        "The total number of pending read indexes not in sync with leader's or timed out read index requests.")
    public static let readIndexesFailed = counter("etcd_server_read_indexes_failed_total",
                                                  "The total number of failed read indexes seen.")
    public static let hasLeader = gauge("etcd_server_has_leader",
                                        "Whether or not a leader exists. 1 is existence, 0 is not.")
    public static let isLeader = gauge("etcd_server_is_leader",
                                       "Whether or not this member is a leader. 1 if is, 0 otherwise.")
    public static let isLearner = gauge("etcd_server_is_learner",
                                        "Whether or not this member is a learner. 1 if is, 0 otherwise.")
    public static let proposalsCommitted = gauge("etcd_server_proposals_committed_total",
                                                 "The total number of consensus proposals committed.")
    public static let proposalsApplied = gauge("etcd_server_proposals_applied_total",
                                               "The total number of consensus proposals applied.")
    public static let proposalsPending = gauge("etcd_server_proposals_pending",
                                               "The current number of pending proposals to commit.")
    public static let quotaBackendBytes = gauge("etcd_server_quota_backend_bytes",
                                                "Current backend storage quota size in bytes.")
    static let serverVersionHelp = "Which version is running. 1 for 'server_version' label with current version."
    static let serverIDHelp = "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID."
    static let clusterVersionHelp =
        "Which version is running. 1 for 'cluster_version' label with current cluster version"

    // MARK: disk (wal/metrics.go, mvcc/backend/metrics.go)

    /// etcd's ExponentialBuckets(0.001, 2, 14): 1 ms to 8.192 s.
    static let diskBuckets = exponentialBuckets(start: 0.001, factor: 2, count: 14)
    public static let walFsync = histogram("etcd_disk_wal_fsync_duration_seconds",
                                           "The latency distributions of fsync called by WAL.", diskBuckets)
    public static let backendCommit = histogram("etcd_disk_backend_commit_duration_seconds",
                                                "The latency distributions of commit called by backend.", diskBuckets)

    // MARK: mvcc (mvcc/metrics.go)

    public static let rangeTotal = counter("etcd_mvcc_range_total", "Total number of ranges seen by this member.")
    public static let putTotal = counter("etcd_mvcc_put_total", "Total number of puts seen by this member.")
    public static let deleteTotal = counter("etcd_mvcc_delete_total", "Total number of deletes seen by this member.")
    public static let txnTotal = counter("etcd_mvcc_txn_total", "Total number of txns seen by this member.")
    public static let compactionKeys = counter("etcd_debugging_mvcc_db_compaction_keys_total",
                                               "Total number of db keys compacted.")
    public static let keysTotal = gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.")
    public static let currentRevision = gauge("etcd_debugging_mvcc_current_revision",
                                              "The current revision of store.")
    public static let compactRevision = gauge("etcd_debugging_mvcc_compact_revision",
                                              "The revision of the last compaction in store.")
    public static let dbTotalSize = gauge(
        "etcd_mvcc_db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes.")
    public static let dbTotalSizeDebugging = gauge(
        "etcd_debugging_mvcc_db_total_size_in_bytes",
        "Total size of the underlying database physically allocated in bytes.")
    public static let dbSizeInUse = gauge(
        "etcd_mvcc_db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes.")

    // MARK: client gRPC bytes (etcdserver/api/v3rpc/metrics.go)

    public static let clientSentBytes = counter("etcd_network_client_grpc_sent_bytes_total",
                                                "The total number of bytes sent to grpc clients.")
    public static let clientReceivedBytes = counter("etcd_network_client_grpc_received_bytes_total",
                                                    "The total number of bytes received from grpc clients.")

    // MARK: helpers

    static func counter(_ name: String, _ help: String) -> Counter {
        registry.counter(name: name, labels: [], help: help)
    }

    static func gauge(_ name: String, _ help: String) -> Gauge {
        registry.gauge(name: name, labels: [], help: help)
    }

    static func histogram(_ name: String, _ help: String, _ buckets: [Double]) -> ValueHistogram {
        registry.histogram(name: name, labels: [], buckets: buckets, help: help)
    }

    /// Prometheus' ExponentialBuckets: `count` upper bounds from `start`, each `factor` times the last.
    public static func exponentialBuckets(start: Double, factor: Double, count: Int) -> [Double] {
        var out: [Double] = []
        var bound = start
        for _ in 0..<max(count, 0) {
            out.append(bound)
            bound *= factor
        }
        return out
    }

    /// A monotonic clock reading in nanoseconds (one vDSO call: cheap enough around an fsync or
    /// an apply).
    @inline(__always)
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Seconds since a `now()` reading.
    @inline(__always)
    public static func seconds(since start: UInt64) -> Double {
        Double(now() &- start) / 1e9
    }

    /// etcd's warnApplyDuration: an apply slower than this counts as slow.
    public static let slowApplyNanos: UInt64 = 100_000_000

    /// Counts a slow apply started at `start` (etcd's warnOfExpensiveRequest).
    @inline(__always)
    public static func noteApply(since start: UInt64) {
        if now() &- start >= slowApplyNanos { slowApplies.increment() }
    }
}

extension PrometheusCollectorRegistry {
    // etcd's names are already whole (namespace_subsystem_name): one descriptor component.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    func counter(name: String, labels: [(String, String)], help: String) -> Counter {
        makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
    }

    func gauge(name: String, labels: [(String, String)], help: String) -> Gauge {
        makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
    }

    func histogram(name: String, labels: [(String, String)], buckets: [Double], help: String) -> ValueHistogram {
        makeValueHistogram(descriptor: Self.descriptor(name, help), labels: labels, buckets: buckets)
    }
}
