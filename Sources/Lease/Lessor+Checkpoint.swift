import Storage

/// etcd's lease checkpointing (`--experimental-enable-lease-checkpoint`, off by default in 3.4):
/// the primary periodically records each long lease's remaining TTL in the raft log, so a new
/// leader's `promote` counts down from that remainder instead of restarting the full TTL.
///
/// Flow: `enableCheckpoints` at start-up; the server polls `dueCheckpoints` (etcd: every 500 ms,
/// in batches of up to 1,000, at most `checkpointRate / 2` batches a poll) and proposes each
/// batch as a LeaseCheckpointRequest; the apply thread calls `checkpoint(id:remainingTTL:in:)`
/// for every entry, which also schedules the next one.
extension Lessor {
    /// etcd's defaultLeaseCheckpointInterval.
    public static let defaultCheckpointInterval: Duration = .seconds(300)
    /// etcd's maxLeaseCheckpointBatchSize.
    public static let maxCheckpointBatch = 1000
    /// etcd's leaseCheckpointRate: checkpoints a second the server should propose at most.
    public static let checkpointRate = 1000

    /// Turns checkpointing on (call once, before `promote`). With `persist`
    /// (`--experimental-enable-lease-checkpoint-persist`) applied remainders are also written to
    /// the `lease` bucket and so survive a restart of the whole cluster.
    public func enableCheckpoints(interval: Duration = Lessor.defaultCheckpointInterval, persist: Bool = false) {
        state.withLock { s in
            s.checkpointInterval = max(1, interval.clampedNanoseconds)
            s.persistCheckpoints = persist
        }
    }

    /// Checkpoints the server should propose now, at most `limit`: first the remainders that
    /// keepalives cleared (`remainingTTL` 0), then leases whose checkpoint time came, with
    /// their remaining TTL rounded up to whole seconds (etcd: `math.Ceil`). Leases that expired,
    /// or whose remainder is still the full TTL, are skipped. Empty when not primary or when
    /// checkpointing is off.
    public func dueCheckpoints(limit: Int = Lessor.maxCheckpointBatch) -> [(id: Int64, remainingTTL: Int64)] {
        guard limit > 0 else { return [] }
        let t = nowNanos()
        return state.withLock { s in
            guard s.primary, s.checkpointInterval != nil else { return [] }
            var out: [(id: Int64, remainingTTL: Int64)] = []
            for id in s.pendingClears.sorted().prefix(limit) {
                s.pendingClears.remove(id)
                out.append((id, 0))
            }
            while out.count < limit, let top = s.checkpoints.first, top.time <= t {
                s.checkpoints.remove(top.id)
                guard let l = s.leases[top.id], t < l.expiry else { continue }
                let left = l.expiry - t
                let remaining = left / nanosPerSecond + (left % nanosPerSecond > 0 ? 1 : 0)
                if remaining >= l.ttl { continue }
                out.append((top.id, remaining))
            }
            return out
        }
    }

    /// Applies a LeaseCheckpoint entry: remembers `remainingTTL` (0 clears it) so the next
    /// `promote` counts down from it; persists it in `tx` only when checkpoints were enabled
    /// with `persist` (etcd 3.4 keeps it in memory otherwise). Unknown IDs are ignored, as etcd
    /// does. When primary, schedules the lease's next checkpoint.
    /// - Throws: `.storage` only.
    public func checkpoint(id: Int64, remainingTTL: Int64, in tx: BatchTx) throws(LeaseError) {
        let t = nowNanos()
        let record: LeaseCodec.Record? = state.withLock { s in
            guard s.leases[id] != nil else { return nil }
            s.leases[id]!.remainingTTL = remainingTTL
            let l = s.leases[id]!
            if remainingTTL == 0 { s.pendingClears.remove(id) }
            scheduleCheckpoint(&s, l, now: t)
            return s.persistCheckpoints ? LeaseCodec.Record(id: id, ttl: l.ttl, remainingTTL: remainingTTL) : nil
        }
        guard let record else { return }
        do {
            try tx.put(.lease, LeaseCodec.key(id), LeaseCodec.encode(record))
        } catch {
            throw LeaseError(storage: error)
        }
    }

    /// `checkpoint(id:remainingTTL:in:)` in a write transaction of its own.
    public func checkpoint(id: Int64, remainingTTL: Int64) throws(LeaseError) {
        try inOwnTransaction { tx throws(LeaseError) in try checkpoint(id: id, remainingTTL: remainingTTL, in: tx) }
    }

    /// etcd's scheduleCheckpointIfNeeded: while primary with checkpointing on, a lease whose
    /// countdown is longer than the interval gets its next checkpoint one interval from now.
    func scheduleCheckpoint(_ s: inout State, _ l: LeaseEntry, now t: Int64) {
        guard s.primary, let interval = s.checkpointInterval else { return }
        if nanos(seconds: l.refreshTTL) > interval {
            s.checkpoints.set(l.id, time: saturatingAdd(t, interval))
        }
    }
}
