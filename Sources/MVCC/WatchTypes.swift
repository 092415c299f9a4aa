import Glibc

/// One message for a watch stream (mvcc's WatchResponse plus the fields v3rpc derives from it).
/// The gRPC layer adds the header (cluster/member ids, raft term) around it.
public struct WatchResponse: Sendable, Equatable {
    /// The watcher it belongs to; -1 for a stream-wide progress response (`requestProgress`).
    public var watchID: Int64
    /// Events in revision order; whole revisions only. Empty for progress and compaction
    /// responses.
    public var events: [Event]
    /// The header revision: the newest revision the watcher has been brought up to.
    public var revision: Int64
    /// Set when the watcher's start revision was compacted; the watcher is then cancelled.
    public var compactRevision: Int64
    /// True when this response ends the watcher (compaction).
    public var canceled: Bool
    public var cancelReason: String
    /// A control response the gRPC layer queued itself (`WatchStream.sendControl`, or the
    /// `created` response of `watch`): it announces or ends a watcher rather than carrying events.
    public var isControl: Bool = false
    /// Set on the response announcing a new watcher.
    public var created: Bool = false

    public init(watchID: Int64, events: [Event] = [], revision: Int64, compactRevision: Int64 = 0,
                canceled: Bool = false, cancelReason: String = "") {
        self.watchID = watchID
        self.events = events
        self.revision = revision
        self.compactRevision = compactRevision
        self.canceled = canceled
        self.cancelReason = cancelReason
    }
}

/// Why a watcher could not be created. `description` is etcd's text (v3rpc puts it in the
/// created-and-canceled response's cancel_reason).
public enum WatchError: Error, Equatable, CustomStringConvertible {
    /// A client-chosen watch id is already used on this stream.
    case idInUse
    /// `end` is set and not after `key`.
    case emptyRange
    /// The stream was closed or the store shut down.
    case closed

    public var description: String {
        switch self {
        case .idInUse: "mvcc: duplicate watch ID provided on the WatchStream"
        case .emptyRange: "mvcc: watcher range is empty"
        case .closed: "mvcc: watch stream closed"
        }
    }
}

/// A plain pthread mutex. `@unchecked Sendable`: the pointer is allocated once and only used
/// through the pthread calls, which are thread-safe.
final class WatchMutex: @unchecked Sendable {
    let raw: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        raw = .allocate(capacity: 1)
        precondition(pthread_mutex_init(raw, nil) == 0, "pthread_mutex_init failed")
    }

    deinit {
        pthread_mutex_destroy(raw)
        raw.deallocate()
    }

    @inline(__always)
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(raw)
        defer { pthread_mutex_unlock(raw) }
        return try body()
    }
}

/// Nanoseconds on the monotonic clock.
@inline(__always) func monotonicNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

extension Duration {
    var nanoseconds: Int64 {
        let c = components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }
}

extension Event {
    /// A put that created its key (etcd's IsCreate): it has no previous state to look up.
    var isCreate: Bool { kind == .put && kv.createRevision == kv.modRevision }
}

/// The key set a watcher covers, with MVCC's range rules already resolved.
enum WatchRange: Hashable {
    case single([UInt8])
    /// Every key >= the bound (range_end "\0").
    case from([UInt8])
    /// `[lower, upper)`.
    case range([UInt8], [UInt8])

    init(key: [UInt8], end: [UInt8]) {
        if end.isEmpty {
            self = .single(key)
        } else if end == [0] {
            self = .from(key)
        } else {
            self = .range(key, end)
        }
    }

    var lower: [UInt8] {
        switch self {
        case let .single(k), let .from(k), let .range(k, _): k
        }
    }

    @inline(__always)
    func contains(_ k: [UInt8]) -> Bool {
        switch self {
        case let .single(key): return k == key
        case let .from(lower): return !k.lexicographicallyPrecedes(lower)
        case let .range(lower, upper): return !k.lexicographicallyPrecedes(lower) && k.lexicographicallyPrecedes(upper)
        }
    }
}

/// One watcher. `@unchecked Sendable`: every `var` is guarded by the owning store's
/// `WatchState.mutex`; the `let`s are immutable.
final class Watcher: @unchecked Sendable {
    enum Phase {
        /// In the synced group: `notify` delivers to it.
        case synced
        /// Behind: the sync worker catches it up from history.
        case unsynced
        /// Its start revision was compacted; the compaction response went out. Registered on the
        /// stream (the id stays in use, as in etcd) until cancelled, but gets nothing more.
        case compacted
        /// Cancelled or its stream closed.
        case removed
    }

    let id: Int64
    let range: WatchRange
    let prevKV: Bool
    let noPut: Bool
    let noDelete: Bool
    let progressNotify: Bool
    let registry: StreamRegistry
    let buffer: StreamBuffer
    /// The first revision not yet delivered (etcd's minRev).
    var minRev: Int64
    var phase: Phase = .synced
    /// No events were sent since the last progress tick (v3rpc's progress[id]).
    var progressQuiet = true

    init(id: Int64, range: WatchRange, prevKV: Bool, noPut: Bool, noDelete: Bool, progressNotify: Bool,
         registry: StreamRegistry, buffer: StreamBuffer, minRev: Int64) {
        self.id = id
        self.range = range
        self.prevKV = prevKV
        self.noPut = noPut
        self.noDelete = noDelete
        self.progressNotify = progressNotify
        self.registry = registry
        self.buffer = buffer
        self.minRev = minRev
    }

    var oid: ObjectIdentifier { ObjectIdentifier(self) }

    /// Offers `events` (already matched, all >= `minRev`) as one response; filters and strips
    /// prevKV it did not ask for. True when delivered or nothing was left to send; false when
    /// the stream's buffer is full (nothing was queued).
    func send(_ events: [Event], revision: Int64) -> Bool {
        var wakeups = WatchWakeups()
        let sent = send(events, revision: revision, wakeups: &wakeups)
        wakeups.resumeAll()
        return sent
    }

    /// `send`, leaving the consumer to wake in `wakeups`.
    func send(_ events: [Event], revision: Int64, wakeups: inout WatchWakeups) -> Bool {
        var out = events
        // Copy only when something changes; usually every watcher shares the caller's array.
        if noPut || noDelete || (!prevKV && events.contains { $0.prevKV != nil }) {
            out = []
            out.reserveCapacity(events.count)
            for var e in events where !(e.kind == .put ? noPut : noDelete) {
                if !prevKV { e.prevKV = nil }
                out.append(e)
            }
        }
        let needPrev = prevKV && out.contains { $0.prevKV == nil && !$0.isCreate }
        if out.isEmpty { return true }
        guard buffer.offer(WatchResponse(watchID: id, events: out, revision: revision), needPrevKV: needPrev, wakeups: &wakeups) else {
            return false
        }
        progressQuiet = false
        return true
    }
}

/// The store-side state of one stream. `@unchecked Sendable`: every `var` is guarded by the
/// owning store's `WatchState.mutex`.
final class StreamRegistry: @unchecked Sendable {
    let buffer: StreamBuffer
    var watchers: [Int64: Watcher] = [:]
    /// Next automatic id (etcd counts up from 0 per stream, skipping ids in use).
    var nextID: Int64 = 0
    /// Watchers of this stream in the unsynced set.
    var lagging = 0
    /// A `requestProgress` waits for every watcher to be synced (or for buffer room).
    var progressPending = false
    var closed = false

    init(buffer: StreamBuffer) { self.buffer = buffer }

    var oid: ObjectIdentifier { ObjectIdentifier(self) }
}
