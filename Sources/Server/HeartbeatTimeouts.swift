import EtcdMetrics

/// etcd's check that a leader sends each follower a heartbeat at least every two heartbeat
/// intervals (contention.TimeoutDetector in its raft loop): a later one means the leader was
/// stalled, most likely by a slow disk, and counts in etcd_server_heartbeat_send_failures_total.
/// Confined to the raft driver's loop.
struct HeartbeatTimeouts {
    /// Two heartbeat intervals, in nanoseconds.
    let limitNanos: UInt64
    private var lastSent: [UInt64: UInt64] = [:]

    init(heartbeatMs: Int) { limitNanos = UInt64(max(heartbeatMs, 1)) * 2_000_000 }

    /// A new leader starts afresh (etcd resets its detector on becoming leader).
    mutating func reset() { lastSent.removeAll() }

    /// Notes a heartbeat to `peer` at `now` (monotonic nanoseconds); returns by how much it came
    /// too late, nil when on time or the first.
    mutating func observe(_ peer: UInt64, now: UInt64) -> UInt64? {
        defer { lastSent[peer] = now }
        guard let last = lastSent[peer], now &- last > limitNanos else { return nil }
        return now &- last - limitNanos
    }
}
