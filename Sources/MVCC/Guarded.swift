import Glibc

/// A value reachable only through its reader-writer lock: `read` runs with the lock shared,
/// `write` with it exclusive, so the state cannot be touched unlocked. Writers are preferred so
/// a stream of readers cannot starve the apply loop.
///
/// `@unchecked Sendable`: every access to `state` goes through `lock` (see `read` / `write`).
/// Closures must not call back into the same `Guarded` (the lock is not recursive).
final class Guarded<State>: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>
    private var state: State

    init(_ state: State) {
        self.state = state
        lock = .allocate(capacity: 1)
        var attr = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attr)
        pthread_rwlockattr_setkind_np(&attr, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        precondition(pthread_rwlock_init(lock, &attr) == 0, "pthread_rwlock_init failed")
        pthread_rwlockattr_destroy(&attr)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Shared access. `body` must only read (reference-typed parts are not frozen by the type).
    @inline(__always)
    func read<R, E: Error>(_ body: (borrowing State) throws(E) -> R) throws(E) -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(state)
    }

    /// Exclusive access.
    @inline(__always)
    func write<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(&state)
    }
}
