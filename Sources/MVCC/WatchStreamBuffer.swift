/// The bounded queue between the store and a stream's consumer (etcd's watch channel of
/// `chanBufLen` responses).
///
/// Producers (`notify`, the sync worker, `requestProgress`) call `offer` with the store's
/// `WatchState.mutex` held; it never blocks: a full buffer refuses the response and remembers
/// that it did, and when the consumer next makes room it wakes the sync worker to retry.
/// The consumer pulls through `next()`, which also fills prevKV for responses that need it, so
/// those store reads happen in the consumer's task, never on the apply thread.
///
/// `@unchecked Sendable`: every `var` is guarded by `mutex` (a leaf lock: nothing else is taken
/// while it is held).
final class StreamBuffer: @unchecked Sendable {
    struct Item {
        var response: WatchResponse
        var needPrevKV: Bool
    }

    /// A waiting consumer and the response handed to it, to be resumed once the producer has
    /// released its locks (see `WatchWakeups`).
    struct Handoff {
        let consumer: CheckedContinuation<Item?, Never>
        let item: Item
        func resume() { consumer.resume(returning: item) }
    }

    private let mutex = WatchMutex()
    private let capacity: Int
    private let store: KVStore
    private let wake: @Sendable () -> Void
    /// Ring of `capacity` slots.
    private var slots: [Item?]
    /// Control responses (created, canceled, progress) go first and are never refused: there is
    /// at most one per client request, and the client's own flow control bounds those.
    private var control: [WatchResponse] = []
    private var head = 0
    private var count = 0
    private var waiter: CheckedContinuation<Item?, Never>?
    private var closed = false
    /// An offer was refused since the consumer last took something.
    private var refused = false

    init(capacity: Int, store: KVStore, wake: @escaping @Sendable () -> Void) {
        self.capacity = max(capacity, 1)
        self.store = store
        self.wake = wake
        slots = Array(repeating: nil, count: self.capacity)
    }

    /// Queues `response` unless the buffer is full (false). A closed buffer swallows it (true).
    func offer(_ response: WatchResponse, needPrevKV: Bool) -> Bool {
        var wakeups = WatchWakeups()
        let accepted = offer(response, needPrevKV: needPrevKV, wakeups: &wakeups)
        wakeups.resumeAll()
        return accepted
    }

    /// `offer`, leaving the waiting consumer (if any) in `wakeups` for the caller to resume.
    func offer(_ response: WatchResponse, needPrevKV: Bool, wakeups: inout WatchWakeups) -> Bool {
        let item = Item(response: response, needPrevKV: needPrevKV)
        let (handoff, accepted): (CheckedContinuation<Item?, Never>?, Bool) = mutex.withLock {
            if closed { return (nil, true) }
            // A waiting consumer means the ring is empty, so handing over keeps the order: later
            // offers queue behind the handed item until the consumer is resumed and drains them.
            if let w = waiter {
                waiter = nil
                return (w, true)
            }
            if count == capacity {
                refused = true
                return (nil, false)
            }
            slots[(head + count) % capacity] = item
            count += 1
            return (nil, true)
        }
        if let handoff { wakeups.handoffs.append(Handoff(consumer: handoff, item: item)) }
        return accepted
    }

    /// Queues a control response ahead of every event response.
    func offerControl(_ response: WatchResponse) {
        let handoff: CheckedContinuation<Item?, Never>? = mutex.withLock {
            if closed { return nil }
            if let w = waiter {
                waiter = nil
                return w
            }
            control.append(response)
            return nil
        }
        handoff?.resume(returning: Item(response: response, needPrevKV: false))
    }

    /// False when an offer would be refused now; then the consumer's next take wakes the sync
    /// worker, as after a refused offer.
    func hasRoom() -> Bool {
        mutex.withLock {
            if closed || count < capacity { return true }
            refused = true
            return false
        }
    }

    /// Drops queued responses of watcher `id` (it was cancelled: v3rpc never sends them).
    func purge(watchID id: Int64) {
        mutex.withLock {
            guard count > 0 else { return }
            var kept: [Item] = []
            for i in 0..<count {
                let j = (head + i) % capacity
                if let item = slots[j], item.response.watchID != id { kept.append(item) }
                slots[j] = nil
            }
            head = 0
            count = kept.count
            for (i, item) in kept.enumerated() { slots[i] = item }
        }
    }

    /// Queued responses (tests).
    var queued: Int { mutex.withLock { count } }

    /// Ends the stream: drops what is queued and lets the consumer finish.
    func close() {
        let w: CheckedContinuation<Item?, Never>? = mutex.withLock {
            closed = true
            slots = []
            control = []
            count = 0
            defer { waiter = nil }
            return waiter
        }
        w?.resume(returning: nil)
    }

    /// The next response, waiting for one; nil once the stream is closed or the consuming task is
    /// cancelled. One consumer at a time.
    func next() async -> WatchResponse? {
        guard var item = await take() else { return nil }
        if item.needPrevKV { fillPrevKV(&item.response) }
        return item.response
    }

    /// Waits for one response, then takes up to `max - 1` more that are already queued, so a
    /// consumer pays one wake-up for a burst (1,000 watchers of one key make such bursts).
    func nextBatch(max: Int) async -> [WatchResponse]? {
        guard let first = await take() else { return nil }
        var items = [first]
        let wasRefused: Bool = mutex.withLock {
            var refusedAny = false
            while items.count < max {
                let (item, r) = popLocked()
                refusedAny = refusedAny || r
                guard let item else { break }
                items.append(item)
            }
            return refusedAny
        }
        if wasRefused { wake() }
        return items.map { item in
            var response = item.response
            if item.needPrevKV { fillPrevKV(&response) }
            return response
        }
    }

    /// A response without waiting (tests), prevKV filled.
    func poll() -> WatchResponse? {
        let (item, wasRefused): (Item?, Bool) = mutex.withLock { popLocked() }
        if wasRefused { wake() }
        guard var item else { return nil }
        if item.needPrevKV { fillPrevKV(&item.response) }
        return item.response
    }

    private func popLocked() -> (Item?, Bool) {
        if !control.isEmpty { return (Item(response: control.removeFirst(), needPrevKV: false), false) }
        guard count > 0 else { return (nil, false) }
        let item = slots[head]
        slots[head] = nil
        head = (head + 1) % capacity
        count -= 1
        let r = refused
        refused = false
        return (item, r)
    }

    private func take() async -> Item? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Item?, Never>) in
                let (item, wasRefused, ready): (Item?, Bool, Bool) = mutex.withLock {
                    let (item, r) = popLocked()
                    if item != nil || closed { return (item, r, true) }
                    // A second consumer (not supported) ends rather than stealing the slot.
                    if Task.isCancelled || waiter != nil { return (nil, false, true) }
                    waiter = c
                    return (nil, false, false)
                }
                if ready { c.resume(returning: item) }
                if wasRefused { wake() }
            }
        } onCancel: {
            let w: CheckedContinuation<Item?, Never>? = mutex.withLock {
                defer { waiter = nil }
                return waiter
            }
            w?.resume(returning: nil)
        }
    }

    /// v3rpc's sendLoop step: for each event that is not a creation, the key as of the revision
    /// before it. A compacted revision leaves prevKV unset, as in etcd.
    private func fillPrevKV(_ r: inout WatchResponse) {
        guard let view = try? store.read() else { return }
        defer { view.end() }
        for i in r.events.indices where r.events[i].prevKV == nil && !r.events[i].isCreate {
            let ev = r.events[i]
            if let res = try? view.range(ev.kv.key, [], options: RangeOptions(rev: ev.kv.modRevision - 1)),
               let kv = res.kvs.first {
                r.events[i].prevKV = kv
            }
        }
    }
}

/// Stream consumers that were handed a response while the store's lock was held. Resuming them is
/// left to the producer, after it has released the lock: the apply thread answers its proposers
/// first, and each consumer then wakes once to find every response of the write queued.
public struct WatchWakeups {
    var handoffs: [StreamBuffer.Handoff] = []

    public init() {}

    public mutating func resumeAll() {
        for h in handoffs { h.resume() }
        handoffs.removeAll()
    }
}
