/// Watchers over a `KVStore` (etcd's watchableStore).
///
/// Flow: the apply thread calls `notify` after each committed write transaction; it matches the
/// events against the *synced* watchers and offers one response per watcher to the watcher's
/// stream buffer. Nothing in `notify` blocks or reads the disk: a watcher whose stream buffer is
/// full leaves the synced group for the *unsynced* set, remembering the first revision it did
/// not get. The sync worker (a dedicated thread, see `WatchWorker`) catches unsynced watchers
/// up from the store's history in batches of whole revisions, and moves them back to the
/// synced group once they reach the newest notified revision. Watchers created with a start
/// revision at or below the current one start unsynced (history replay); a start revision of 0
/// or in the future starts synced (the future one simply ignores older events). A watcher whose
/// next revision has been compacted gets one response with `compactRevision` and is cancelled.
///
/// Memory stays bounded: a stream holds at most `bufferCapacity` responses, and an unsynced
/// watcher holds no events, only its next revision.
///
/// Locking: `WatchState.mutex` guards the groups, every `Watcher` and `StreamRegistry` field
/// and `notifiedRev`; it is held only for in-memory work (never across a store read). Each
/// `StreamBuffer` has its own leaf lock, taken inside the state lock by producers and alone by
/// the consumer. The worker's lock is a leaf too. The store's own index lock is never taken
/// while the state lock is held.
public final class WatchableStore: Sendable {
    public struct Options: Sendable {
        /// Responses a stream buffers before its watchers fall behind (etcd's chanBufLen).
        public var bufferCapacity: Int
        /// How often the sync worker looks at unsynced watchers when nothing wakes it.
        public var syncInterval: Duration
        /// Events read from history per catch-up round, rounded up to whole revisions (etcd
        /// bounds a batch at 1000 revisions).
        public var catchUpBatchLimit: Int
        /// How long a `progressNotify` watcher may go without events before it gets an empty
        /// response with the current revision (etcd's --experimental-watch-progress-notify-interval).
        public var progressInterval: Duration
        /// Watchers caught up per round (etcd's maxWatchersPerSync).
        public var maxWatchersPerSync: Int
        /// Tests drive `syncOnce()` and `progressTick()` by hand: no worker thread.
        var manual: Bool
        /// Tests: runs in `syncOnce` between the history read and the hand-over.
        var afterHistoryRead: (@Sendable () -> Void)? = nil

        public init(bufferCapacity: Int = 128, syncInterval: Duration = .milliseconds(100),
                    catchUpBatchLimit: Int = 1000, progressInterval: Duration = .seconds(600),
                    maxWatchersPerSync: Int = 512) {
            self.bufferCapacity = bufferCapacity
            self.syncInterval = syncInterval
            self.catchUpBatchLimit = catchUpBatchLimit
            self.progressInterval = progressInterval
            self.maxWatchersPerSync = maxWatchersPerSync
            self.manual = false
        }
    }

    /// The store events are read back from (history replay, prevKV).
    public let store: KVStore
    let options: Options
    let state: WatchState
    let worker: WatchWorker

    public init(store: KVStore, options: Options = Options()) {
        self.store = store
        self.options = options
        state = WatchState(notifiedRev: store.currentRevision)
        worker = WatchWorker(syncInterval: options.syncInterval, progressInterval: options.progressInterval)
        if !options.manual { worker.start(self) }
    }

    deinit { worker.stop(join: false) }

    /// The newest revision handed to `notify` (or the store's revision at start).
    public var notifiedRevision: Int64 { state.mutex.withLock { state.notifiedRev } }

    /// Delivers the changes of one committed write transaction (all of main revision
    /// `revision`, in order) to the synced watchers. Call from the apply thread, in revision
    /// order, after the transaction is visible to readers (with a `WriteBatch`: after the batch
    /// commits). Never blocks on a consumer and never reads the store.
    public func notify(_ events: [Event], revision: Int64) {
        var wakeups = WatchWakeups()
        notify(events, revision: revision, wakeups: &wakeups)
        wakeups.resumeAll()
    }

    /// `notify`, leaving the stream consumers to wake in `wakeups`: the revision counts as
    /// notified (for watchers created from now on) and the responses are queued when it returns.
    public func notify(_ events: [Event], revision: Int64, wakeups: inout WatchWakeups) {
        var fellBehind = false
        state.mutex.withLock {
            if revision > state.notifiedRev { state.notifiedRev = revision }
            guard !events.isEmpty, !state.synced.isEmpty, !state.shutdown else { return }
            if events.count == 1 {
                // The common case: no batching needed.
                state.synced.forEachMatch(events[0].kv.key) { w in
                    if revision >= w.minRev && !w.send(events, revision: revision, wakeups: &wakeups) {
                        state.pendingSlow.append(w)
                    }
                }
            } else {
                var batches: [ObjectIdentifier: (Watcher, [Event])] = [:]
                var order: [ObjectIdentifier] = []
                for ev in events {
                    state.synced.forEachMatch(ev.kv.key) { w in
                        guard revision >= w.minRev else { return }
                        if batches[w.oid] == nil {
                            order.append(w.oid)
                            batches[w.oid] = (w, [ev])
                        } else {
                            batches[w.oid]!.1.append(ev)
                        }
                    }
                }
                for oid in order {
                    let (w, evs) = batches[oid]!
                    if !w.send(evs, revision: revision, wakeups: &wakeups) { state.pendingSlow.append(w) }
                }
            }
            // Moved out after matching so the group is not changed while it is walked.
            state.fellBehindTotal += state.pendingSlow.count
            for w in state.pendingSlow {
                state.synced.remove(w)
                w.minRev = revision
                state.makeUnsynced(w)
                fellBehind = true
            }
            state.pendingSlow.removeAll(keepingCapacity: true)
        }
        if fellBehind { worker.wake() }
    }

    /// A new stream (one per gRPC Watch stream).
    public func makeStream() -> WatchStream {
        let worker = self.worker
        let buffer = StreamBuffer(capacity: options.bufferCapacity, store: store) { worker.wake() }
        let registry = StreamRegistry(buffer: buffer)
        state.mutex.withLock {
            if state.shutdown {
                registry.closed = true
            } else {
                state.registries[registry.oid] = registry
            }
        }
        if registry.closed { buffer.close() }
        return WatchStream(owner: self, registry: registry, buffer: buffer)
    }

    /// Stops the sync worker and closes every stream.
    public func shutdown() {
        let buffers: [StreamBuffer] = state.mutex.withLock {
            state.shutdown = true
            var out: [StreamBuffer] = []
            for reg in state.registries.values {
                for w in reg.watchers.values {
                    out.append(w.buffer)
                    state.detach(w)
                }
                reg.watchers = [:]
                reg.closed = true
            }
            state.registries = [:]
            state.pendingProgress = [:]
            return out
        }
        worker.stop(join: true)
        for b in buffers { b.close() }
    }

    /// Counts of synced and unsynced watchers (tests, metrics).
    public var watcherCounts: (synced: Int, unsynced: Int) {
        state.mutex.withLock { (state.synced.count, state.unsynced.count) }
    }

    /// How many times `notify` found a stream full and moved a watcher to the unsynced set
    /// (etcd's slow watcher count, cumulative).
    public var fellBehindCount: Int { state.mutex.withLock { state.fellBehindTotal } }
}

/// Everything the state lock guards. `@unchecked Sendable`: every `var` is accessed only with
/// `mutex` held.
final class WatchState: @unchecked Sendable {
    let mutex = WatchMutex()
    var synced = WatchGroup()
    var unsynced: [ObjectIdentifier: Watcher] = [:]
    /// Highest revision passed to `notify`: every synced watcher has had everything up to it.
    var notifiedRev: Int64
    var registries: [ObjectIdentifier: StreamRegistry] = [:]
    /// Streams with a `requestProgress` not yet answered.
    var pendingProgress: [ObjectIdentifier: StreamRegistry] = [:]
    var shutdown = false
    /// Scratch list for `notify` (kept to reuse its storage).
    var pendingSlow: [Watcher] = []
    /// How many times a synced watcher fell behind on a full buffer.
    var fellBehindTotal = 0

    init(notifiedRev: Int64) { self.notifiedRev = notifiedRev }

    func makeUnsynced(_ w: Watcher) {
        w.phase = .unsynced
        unsynced[w.oid] = w
        w.registry.lagging += 1
    }

    /// Moves an unsynced watcher that has everything up to `notifiedRev` into the synced group.
    func makeSynced(_ w: Watcher) {
        unsynced[w.oid] = nil
        w.registry.lagging -= 1
        w.phase = .synced
        synced.add(w)
        answerProgressIfSynced(w.registry)
    }

    /// Takes `w` out of whichever set holds it, for good.
    func detach(_ w: Watcher) {
        switch w.phase {
        case .synced: synced.remove(w)
        case .unsynced:
            unsynced[w.oid] = nil
            w.registry.lagging -= 1
            answerProgressIfSynced(w.registry)
        case .compacted, .removed: break
        }
        w.phase = .removed
    }

    /// Sends a pending stream-wide progress response once no watcher of the stream is behind.
    func answerProgressIfSynced(_ reg: StreamRegistry) {
        guard reg.progressPending, reg.lagging == 0, !reg.closed else { return }
        if reg.buffer.offer(WatchResponse(watchID: -1, revision: notifiedRev), needPrevKV: false) {
            reg.progressPending = false
            pendingProgress[reg.oid] = nil
        } else {
            pendingProgress[reg.oid] = reg
        }
    }
}
