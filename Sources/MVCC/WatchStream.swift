/// The watchers of one gRPC Watch stream and the single queue of their responses (etcd's
/// watchStream). `watch`, `cancel`, `requestProgress` and `close` may be called from any task;
/// `responses` has one consumer. Releasing the stream closes it.
///
/// The created / canceled control responses are the gRPC layer's (as in v3rpc): `watch`
/// returns the id at once, and events for it may already be queued, so the sender must send
/// the created response before any event of that id (v3rpc buffers such events until then).
public final class WatchStream: Sendable {
    let owner: WatchableStore
    let registry: StreamRegistry
    let buffer: StreamBuffer

    init(owner: WatchableStore, registry: StreamRegistry, buffer: StreamBuffer) {
        self.owner = owner
        self.registry = registry
        self.buffer = buffer
    }

    deinit { close() }

    /// Creates a watcher on `key` (`end` empty: just `key`; `end` == [0]: every key >= `key`;
    /// otherwise `[key, end)`). `id` 0 picks the next free id (counting up from 0 on this stream,
    /// as etcd does); any other id is the client's choice and must be free. `startRevision` 0
    /// starts at the next revision; one at or below the current revision replays history first;
    /// one in the future waits for it. Returns the id.
    ///
    /// With `announce`, the response it builds for the new id is queued (as a control response)
    /// before the watcher can match anything, so it always precedes the watcher's events.
    public func watch(id: Int64, key: [UInt8], end: [UInt8], startRevision: Int64, prevKV: Bool, noPut: Bool,
                      noDelete: Bool, progressNotify: Bool,
                      announce: ((Int64) -> WatchResponse)? = nil) throws(WatchError) -> Int64 {
        if !end.isEmpty && end != [0] && !key.lexicographicallyPrecedes(end) { throw .emptyRange }
        let range = WatchRange(key: key, end: end)
        let st = owner.state
        let (wid, replay) = try st.mutex.withLock { () throws(WatchError) -> (Int64, Bool) in
            let reg = registry
            if reg.closed || st.shutdown { throw .closed }
            var wid = id
            if wid == 0 {
                while reg.watchers[reg.nextID] != nil { reg.nextID += 1 }
                wid = reg.nextID
                reg.nextID += 1
            } else if reg.watchers[wid] != nil {
                throw .idInUse
            }
            let cur = st.notifiedRev
            let synced = startRevision == 0 || startRevision > cur
            let w = Watcher(id: wid, range: range, prevKV: prevKV, noPut: noPut, noDelete: noDelete,
                            progressNotify: progressNotify, registry: reg, buffer: buffer,
                            minRev: synced ? max(cur + 1, startRevision) : max(startRevision, 1))
            reg.watchers[wid] = w
            if let announce {
                var created = announce(wid)
                created.isControl = true
                buffer.offerControl(created)
            }
            if synced {
                st.synced.add(w)
            } else {
                st.makeUnsynced(w)
            }
            return (wid, !synced)
        }
        if replay { owner.worker.wake() }
        return wid
    }

    /// Removes the watcher `id` and drops its responses still queued; false when the stream has
    /// no such watcher. The gRPC layer then sends the canceled response itself (as v3rpc does).
    @discardableResult
    public func cancel(id: Int64) -> Bool {
        let st = owner.state
        return st.mutex.withLock {
            guard let w = registry.watchers.removeValue(forKey: id) else { return false }
            st.detach(w)
            // Under the state lock, so no producer can queue another response for it meanwhile.
            buffer.purge(watchID: id)
            return true
        }
    }

    /// etcd 3.4's WatchProgressRequest: queues a response with watch id -1 and the current
    /// revision. It waits until every watcher of the stream is synced, so the revision never
    /// claims events a lagging watcher has not had yet.
    public func requestProgress() {
        let st = owner.state
        let wake: Bool = st.mutex.withLock {
            guard !registry.closed else { return false }
            registry.progressPending = true
            st.answerProgressIfSynced(registry)
            return registry.progressPending && registry.lagging == 0
        }
        // Only a full buffer leaves it pending with nothing lagging; the worker retries it.
        if wake { owner.worker.wake() }
    }

    /// The responses of every watcher of this stream, in order per watcher. One consumer; it
    /// ends when the stream is closed or the consuming task is cancelled. Reading it fills
    /// prevKV for watchers that asked (a store read in the consumer's task).
    public var responses: AsyncStream<WatchResponse> {
        let buffer = self.buffer
        return AsyncStream(unfolding: { await buffer.next() })
    }

    /// Queues a control response (canceled, progress) ahead of the queued events.
    public func sendControl(_ response: WatchResponse) {
        var response = response
        response.isControl = true
        buffer.offerControl(response)
    }

    /// Waits for the next responses: one, plus whatever else is queued, up to `max`; nil once the
    /// stream is closed or the task is cancelled. Fills prevKV where asked. One consumer.
    public func nextBatch(max: Int = 256) async -> [WatchResponse]? {
        await buffer.nextBatch(max: max)
    }

    /// Frees every watcher of the stream and ends `responses`.
    public func close() {
        let st = owner.state
        st.mutex.withLock {
            guard !registry.closed else { return }
            registry.closed = true
            for w in registry.watchers.values { st.detach(w) }
            registry.watchers = [:]
            registry.progressPending = false
            st.registries[registry.oid] = nil
            st.pendingProgress[registry.oid] = nil
        }
        buffer.close()
    }

    /// Ids of the watchers registered on this stream (tests, debugging).
    public var watchIDs: [Int64] {
        owner.state.mutex.withLock { registry.watchers.keys.sorted() }
    }

    /// A queued response without waiting, prevKV filled (tests).
    func poll() -> WatchResponse? { buffer.poll() }
}
