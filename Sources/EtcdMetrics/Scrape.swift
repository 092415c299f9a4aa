import CoreMetrics
import Prometheus
import Synchronization

extension Meters {
    /// Serialises scrapes: the scrape-time updates (a counter reset and re-add among them) must not interleave.
    private static let scraping = Mutex(())

    /// The Prometheus text page: `collect` sets the gauges read from the server's state, the
    /// process metrics are read from /proc, then the registry renders every metric.
    public static func render(collect: () -> Void) -> String {
        scraping.withLock { _ in
            registerAll()
            ProcessMeters.update(ProcessStats.current())
            collect()
            return registry.emitToString()
        }
    }

    /// Swift makes a static metric on first use; a counter nothing has counted yet must still be
    /// on the page with 0, as etcd shows it.
    static func registerAll() {
        let all: [AnyObject] = [
            leaderChanges, proposalsFailed, slowApplies, heartbeatSendFailures, slowReadIndexes, readIndexesFailed,
            hasLeader, isLeader, isLearner, proposalsCommitted, proposalsApplied, proposalsPending, quotaBackendBytes,
            walFsync, backendCommit, rangeTotal, putTotal, deleteTotal, txnTotal, compactionKeys, keysTotal,
            currentRevision, compactRevision, dbTotalSize, dbTotalSizeDebugging, dbSizeInUse, clientSentBytes,
            clientReceivedBytes,
        ]
        _ = all
    }

    /// Makes swift-metrics' global factory write into this registry, so libraries that report
    /// through swift-metrics show on the same page. Call once, from the executable.
    public static func bootstrap() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }
}
