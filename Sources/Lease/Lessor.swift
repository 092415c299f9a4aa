import Storage
import Synchronization

/// etcd's lessor: owns every lease, persists them in the `lease` bucket, tracks which keys each
/// lease carries, and, while primary (the raft leader), counts them down and reports the expired.
///
/// Two kinds of callers:
/// - **Apply side** (`grant`, `revoke`, `attach`, `detach`, `checkpoint`): only the server's
///   single apply thread, in log order. Their effect on the set of leases, their TTLs and keys is
///   a pure function of the log, so every member agrees.
/// - **Any thread** (`renew`, `timeToLive`, `lookup`, `leases`, `expiredLeases`, `promote`,
///   `demote`, `isPrimary`, `enableCheckpoints`, `dueCheckpoints`): concurrent; they read the
///   set of leases and change only expiries and checkpoint schedules, which are local to this
///   member and never persisted (etcd keeps them in memory too).
///
/// Locking: one `Mutex` (`state`) guards all mutable state: the lease map (with each lease's
/// keys), the expiry heap, the primary flag and the checkpoint schedule.
/// Every method takes it at most twice, for short critical sections that never call out: no
/// clock read, storage call or caller closure runs under it, so it cannot deadlock with the
/// caller's own locks. LMDB writes happen outside it; that is safe because only the apply
/// thread adds or removes leases.
///
/// Apply-side writes go into the caller's `BatchTx`, and memory changes as soon as the call
/// returns: if the caller then aborts that transaction, memory is ahead of disk. The server
/// treats a storage failure during apply as fatal (etcd panics), so this never matters.
///
/// Keys attached to leases are not persisted by the lessor (etcd neither): after a restart the
/// server re-attaches them while restoring MVCC (each stored KeyValue names its lease).
public final class Lessor: Sendable {
    /// etcd's MaxLeaseTTL: the largest TTL `grant` accepts, in seconds.
    public static let maxTTL: Int64 = 9_000_000_000
    /// etcd's leaseRevokeRate: revokes per second the server should propose at most. `promote`
    /// spreads expiries so that piled-up leases expire at 3/4 of this rate.
    public static let revokeRate = 1000
    /// etcd's defaultExpiredleaseRetryInterval.
    public static let defaultExpiredRetryInterval: Duration = .seconds(3)

    /// Granted TTLs below this are raised to it. etcd uses ceil((3 x electionTicks / 2) x
    /// heartbeat interval) in seconds: 2 with the default flags (10 ticks of 100 ms).
    public let minTTL: Int64

    let backend: Backend
    let now: @Sendable () -> ContinuousClock.Instant
    /// Every time in `State` is nanoseconds since this instant.
    let base: ContinuousClock.Instant
    /// How long an expired lease handed out by `expiredLeases` is withheld before it is handed
    /// out again (its revoke may be in flight).
    let retryNanos: Int64
    let state: Mutex<State>

    struct State: ~Copyable {
        var leases: [Int64: LeaseEntry] = [:]
        var queue = ExpiryQueue()
        var primary = false
        /// Checkpointing (etcd's --experimental-enable-lease-checkpoint), off by default: the
        /// interval in nanoseconds, whether applied checkpoints are persisted, the next
        /// checkpoint time of each lease, and leases whose remainder a keepalive must clear.
        var checkpointInterval: Int64?
        var persistCheckpoints = false
        var checkpoints = ExpiryQueue()
        var pendingClears: Set<Int64> = []
    }

    /// Opens the lessor over `backend`, restoring every lease from the `lease` bucket.
    ///
    /// Restored leases keep their persisted TTL (raised to `minTTL`) and do not count down until
    /// `promote` (etcd: expiry "forever" until the member becomes leader). A record that does not
    /// decode throws (etcd panics), as does an LMDB failure.
    ///
    /// - Parameters:
    ///   - now: the clock; tests inject a manual one.
    ///   - expiredRetryInterval: etcd's expiredLeaseRetryInterval (3 s).
    public init(backend: Backend, minTTL: Int64,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
                expiredRetryInterval: Duration = Lessor.defaultExpiredRetryInterval) throws(LeaseError) {
        self.backend = backend
        self.minTTL = minTTL
        self.now = now
        self.base = now()
        self.retryNanos = expiredRetryInterval.clampedNanoseconds
        state = Mutex(State(leases: try Lessor.loadLeases(backend, minTTL: minTTL)))
    }

    /// Every lease of the `lease` bucket, not counting down, with no keys.
    static func loadLeases(_ backend: Backend, minTTL: Int64) throws(LeaseError) -> [Int64: LeaseEntry] {
        var leases: [Int64: LeaseEntry] = [:]
        do {
            let tx = try backend.read()
            defer { tx.end() }
            try tx.forEach(.lease) { key, value in
                guard let r = LeaseCodec.decode(value) else {
                    throw StorageError.lmdb(operation: "decode lease record \(Array(key))", code: -1,
                                            message: "not a leasepb.Lease")
                }
                leases[r.id] = LeaseEntry(id: r.id, ttl: max(r.ttl, minTTL), remainingTTL: r.remainingTTL,
                                          expiry: forever, keys: [])
                return true
            }
        } catch {
            throw LeaseError(storage: error)
        }
        return leases
    }

    /// Rebuilds the leases from the `lease` bucket after the backend's data was replaced (a raft
    /// snapshot installed with `Backend.replaceContents` / `KVStore.replaceContents`), as etcd's
    /// lessor Recover does: every old lease, key attachment, expiry and checkpoint schedule is
    /// dropped, and the leases of the new data are loaded as `init` loads them.
    ///
    /// The lessor is left as a demoted one has it: not primary, no lease counting down. If this
    /// member leads (raft normally sends snapshots to followers only), call `promote(extend:)`
    /// again to start the countdowns. Keys are not attached: re-attach those the store returns
    /// (`KVStore.replaceContents` / `reload()`, or `restoredLeases`) with `attach(id:key:)`.
    /// The checkpoint settings (`enableCheckpoints`) stay.
    ///
    /// Apply side: call from the apply thread, after the backend holds the new data. On a
    /// decoding or storage failure nothing changes.
    public func reload() throws(LeaseError) {
        let leases = try Lessor.loadLeases(backend, minTTL: minTTL)
        state.withLock { s in
            s.leases = leases
            s.primary = false
            s.queue.removeAll()
            s.checkpoints.removeAll()
            s.pendingClears.removeAll()
        }
    }

    /// Nanoseconds since `base` on the injected clock.
    @inline(__always)
    func nowNanos() -> Int64 { (now() - base).clampedNanoseconds }

    /// Whether this lessor counts leases down (between `promote` and `demote`). etcd forwards
    /// keepalives and TimeToLive to the leader when its own lessor is not primary.
    public var isPrimary: Bool { state.withLock { $0.primary } }

    /// How many leases exist.
    public var count: Int { state.withLock { $0.leases.count } }

    /// The lease `id`, or nil.
    public func lookup(id: Int64) -> LeaseInfo? {
        let t = nowNanos()
        return state.withLock { s in
            s.leases[id].map { LeaseInfo(id: $0.id, ttl: $0.ttl, remaining: remainingSeconds($0, t),
                                         keyCount: $0.keys.count) }
        }
    }

    /// Every lease ID, ascending (etcd's LeaseLeases).
    public func leases() -> [Int64] {
        state.withLock { Array($0.leases.keys) }.sorted()
    }

    /// etcd's LeaseTimeToLive: the granted TTL, the seconds left (truncated toward zero as etcd's
    /// `int64(Remaining().Seconds())`, so negative once expired and not yet revoked) and, when
    /// `keys` is true, the attached keys in byte order. Nil for an unknown lease (etcd answers
    /// TTL -1).
    public func timeToLive(id: Int64, keys: Bool) -> (grantedTTL: Int64, remainingTTL: Int64, keys: [[UInt8]])? {
        let t = nowNanos()
        let found: (Int64, Int64, [[UInt8]])? = state.withLock { s in
            guard let l = s.leases[id] else { return nil }
            return (l.ttl, remainingSeconds(l, t), keys ? Array(l.keys) : [])
        }
        guard let (ttl, remaining, ks) = found else { return nil }
        return (ttl, remaining, keys ? ks.sorted(by: bytesLess) : [])
    }
}

/// etcd's `int64(l.Remaining().Seconds())`: Go truncates toward zero, as Swift's `/` does.
@inline(__always)
func remainingSeconds(_ l: LeaseEntry, _ now: Int64) -> Int64 {
    let left = l.expiry == forever ? Int64.max : saturatingAdd(l.expiry, -now)
    return left / nanosPerSecond
}

/// Byte-wise order, as Go sorts key strings.
@inline(__always)
func bytesLess(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }

extension LeaseError {
    init(storage error: any Error) {
        if let e = error as? StorageError {
            self = .storage(e)
        } else if let e = error as? LeaseError {
            self = e
        } else {
            self = .storage(.lmdb(operation: "lease", code: -1, message: "\(error)"))
        }
    }
}
