import EtcdMetrics

extension ServerNode {
    /// The `/metrics` page (Prometheus text format): state that is cheaper to read than to track
    /// is copied into its gauges here, at scrape time; counters and histograms are kept as
    /// things happen.
    public func metricsText() -> String {
        Meters.render { [self] in
            let raft = driver.status.withLock { $0 }
            Meters.hasLeader.set(to: raft.leader != 0 ? 1 : 0)
            Meters.isLeader.set(to: raft.isLeader ? 1 : 0)
            Meters.isLearner.set(to: isLearner ? 1 : 0)
            Meters.proposalsCommitted.set(to: Double(raft.committed))
            Meters.proposalsApplied.set(to: Double(applier.appliedIndex))
            Meters.proposalsPending.set(to: Double(registry.count))
            Meters.quotaBackendBytes.set(to: Double(quotaBytes))
            let size = Double(storage.dbSize)
            Meters.dbTotalSize.set(to: size)
            Meters.dbTotalSizeDebugging.set(to: size)
            Meters.dbSizeInUse.set(to: Double(storage.dbSizeInUse))
            Meters.keysTotal.set(to: Double(storage.store.keyCount))
            Meters.currentRevision.set(to: Double(storage.store.currentRevision))
            // etcd reports -1 until the first compaction.
            let compacted = storage.store.compactedRevision
            Meters.compactRevision.set(to: Double(compacted > 0 ? compacted : -1))
            Meters.setServerVersion(Self.version)
            Meters.setServerID(memberID)
            Meters.setClusterVersion(Self.majorMinor(membership.clusterVersion ?? ""))
        }
    }

    /// "3.4.0" -> "3.4", as etcd labels the cluster version; "" when there is none.
    static func majorMinor(_ version: String) -> String {
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else { return "" }
        return "\(parts[0]).\(parts[1])"
    }
}
