import Storage

/// Why a lessor call failed. The server maps each case to etcd's gRPC error
/// (`etcdserver: requested lease not found`, `etcdserver: lease already exists`,
/// `etcdserver: too large lease TTL`).
public enum LeaseError: Error, Equatable, Sendable {
    /// No lease with that ID (also: ID 0, and a lease that expired and awaits its revoke).
    case leaseNotFound
    /// `grant` with an ID already in use.
    case leaseExists
    /// `grant` with a TTL above `Lessor.maxTTL`.
    case ttlTooLarge
    /// The LMDB backend failed; the caller's write transaction should be aborted.
    case storage(StorageError)
}

/// A snapshot of one lease.
public struct LeaseInfo: Sendable, Equatable {
    /// The lease ID.
    public var id: Int64
    /// The granted TTL in seconds (after the minimum-TTL raise).
    public var ttl: Int64
    /// Seconds left, truncated toward zero as etcd's LeaseTimeToLive reports them. While the
    /// lessor is not primary leases do not count down and this is etcd's "forever"
    /// (`Int64.max` nanoseconds in seconds, 9223372036).
    public var remaining: Int64
    /// How many keys are attached.
    public var keyCount: Int

    public init(id: Int64, ttl: Int64, remaining: Int64, keyCount: Int) {
        self.id = id
        self.ttl = ttl
        self.remaining = remaining
        self.keyCount = keyCount
    }
}

/// Lease state kept in memory. Times are nanoseconds since the lessor's base instant.
struct LeaseEntry {
    let id: Int64
    var ttl: Int64
    /// Last checkpointed remaining TTL in seconds; 0 means unset (use `ttl`).
    var remainingTTL: Int64
    /// When the lease expires; `forever` while the lessor is not primary.
    var expiry: Int64
    var keys: Set<[UInt8]>

    /// The TTL a refresh counts from: the checkpointed remainder if any, else the full TTL.
    var refreshTTL: Int64 { remainingTTL > 0 ? remainingTTL : ttl }
}

/// The expiry of a lease that is not counting down (etcd's zero `time.Time`).
let forever = Int64.max

let nanosPerSecond: Int64 = 1_000_000_000

/// `a + b`, pinned to the Int64 range (huge TTLs plus an offset must not trap).
@inline(__always)
func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? (b > 0 ? Int64.max : Int64.min) : r
}

/// Seconds as nanoseconds, pinned to the Int64 range.
@inline(__always)
func nanos(seconds: Int64) -> Int64 {
    let (r, o) = seconds.multipliedReportingOverflow(by: nanosPerSecond)
    return o ? (seconds > 0 ? Int64.max : Int64.min) : r
}

extension Duration {
    /// Whole nanoseconds, pinned to the Int64 range.
    var clampedNanoseconds: Int64 {
        let c = components
        return saturatingAdd(nanos(seconds: c.seconds), c.attoseconds / 1_000_000_000)
    }
}
