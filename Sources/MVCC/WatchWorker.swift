import Glibc

/// The sync worker: one dedicated thread per `WatchableStore` (not a Task, because catch-up
/// reads the store synchronously and must not hold a cooperative-pool thread). It runs a sync
/// round when woken (a watcher fell behind, a replaying watcher was created, a full stream made
/// room) or every `syncInterval`, repeating at once while rounds make progress, and the progress
/// tick every `progressInterval`.
///
/// `@unchecked Sendable`: `woken`, `stopping`, `started` and `joined` are guarded by `mutex`;
/// `thread` is written before the thread can be joined or detached and read only by `stop`,
/// under `mutex`.
final class WatchWorker: @unchecked Sendable {
    private let mutex = WatchMutex()
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private let syncNanos: Int64
    private let progressNanos: Int64
    private var woken = false
    private var stopping = false
    private var started = false
    private var joined = false
    private var thread = pthread_t()

    init(syncInterval: Duration, progressInterval: Duration) {
        syncNanos = max(syncInterval.nanoseconds, 1_000_000)
        progressNanos = max(progressInterval.nanoseconds, 1_000_000)
        cond = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        precondition(pthread_cond_init(cond, &attr) == 0, "pthread_cond_init failed")
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    /// Starts the thread. It holds the store weakly, so releasing the store ends it too.
    func start(_ store: WatchableStore) {
        let body: () -> Void = { [weak store, self] in self.run { store } }
        let ctx = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        mutex.withLock {
            started = pthread_create(&thread, nil, { ctx in
                let b = Unmanaged<ThreadBody>.fromOpaque(ctx!).takeRetainedValue()
                b.body()
                return nil
            }, ctx) == 0
        }
    }

    /// Asks for a sync round soon. Cheap; callable from any thread.
    func wake() {
        mutex.withLock {
            woken = true
            pthread_cond_signal(cond)
        }
    }

    /// Ends the thread; `join` waits for it (never from the worker thread itself).
    func stop(join: Bool) {
        let (t, mustJoin): (pthread_t, Bool) = mutex.withLock {
            stopping = true
            pthread_cond_signal(cond)
            guard started && !joined else { return (thread, false) }
            joined = true
            if !join { pthread_detach(thread) }
            return (thread, join)
        }
        if mustJoin { pthread_join(t, nil) }
    }

    private func run(_ store: () -> WatchableStore?) {
        var nextProgress = monotonicNanos() + progressNanos
        while waitForWork(until: min(monotonicNanos() + syncNanos, nextProgress)) {
            guard let s = store() else { return }
            var rounds = 0
            while s.syncOnce() && rounds < 1000 && !isStopping { rounds += 1 }
            if monotonicNanos() >= nextProgress {
                s.progressTick()
                nextProgress = monotonicNanos() + progressNanos
            }
        }
    }

    private var isStopping: Bool { mutex.withLock { stopping } }

    /// Sleeps until woken or `deadline`; false when stopping.
    private func waitForWork(until deadline: Int64) -> Bool {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_mutex_lock(mutex.raw)
        defer { pthread_mutex_unlock(mutex.raw) }
        while !woken && !stopping {
            if pthread_cond_timedwait(cond, mutex.raw, &ts) == ETIMEDOUT { break }
        }
        woken = false
        return !stopping
    }
}

/// A closure handed to a new thread. `@unchecked Sendable`: immutable, run once by that thread.
private final class ThreadBody: @unchecked Sendable {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
