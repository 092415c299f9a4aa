#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A FIFO handed between threads: producers `push`, one consumer takes everything queued at once
/// with `popAll`, which is how the pipeline forms its batches (group commit).
/// `@unchecked Sendable`: every access to `items` and `closed` holds `mutex`.
final class BlockingQueue<Element>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var items: [Element] = []
    private var closed = false
    private var claimed = false
    /// Condition broadcasts so far (tests check that no consumer is woken for nothing).
    private var broadcasts = 0

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Queues `item`; returns false (and drops it) once the queue is closed.
    @discardableResult
    func push(_ item: Element) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        if closed { return false }
        items.append(item)
        if items.count == 1 { broadcast() }
        return true
    }

    /// Blocks until something is queued, then returns all of it in order; returns nil when the
    /// queue is closed and drained.
    func popAll() -> [Element]? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while items.isEmpty && !closed { pthread_cond_wait(&condition, &mutex) }
        if items.isEmpty { return nil }
        let batch = items
        items.removeAll(keepingCapacity: true)
        return batch
    }

    // MARK: Shared consumption

    // A consumer may also be a producer's thread: whoever holds the claim consumes, so items are
    // consumed by one thread at a time and in order, yet a producer that finds the consumer idle
    // and nothing queued can do the work itself instead of waking the consumer thread.

    /// As `popAll`, but also takes the claim, waiting while another thread holds it; the caller
    /// calls `release()` when done with the batch.
    func claimAll() -> [Element]? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while (items.isEmpty || claimed) && !closed { pthread_cond_wait(&condition, &mutex) }
        if items.isEmpty { return nil }
        while claimed { pthread_cond_wait(&condition, &mutex) }
        claimed = true
        let batch = items
        items.removeAll(keepingCapacity: true)
        return batch
    }

    /// Takes the claim when nothing is queued and nobody holds it (the work may then be done by
    /// the caller, ahead of anything pushed later); the caller calls `release()`.
    func claimIfIdle() -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard items.isEmpty, !claimed, !closed else { return false }
        claimed = true
        return true
    }

    /// Gives the claim back. A consumer is woken only when items were queued meanwhile: with
    /// nothing queued it would wake, find nothing and sleep again, and that wake-up (a futex call,
    /// a context switch, the mutex contended against the releasing thread) was paid on every
    /// inline-applied write.
    func release() {
        pthread_mutex_lock(&mutex)
        claimed = false
        if !items.isEmpty { broadcast() }
        pthread_mutex_unlock(&mutex)
    }

    /// How many times waiting threads were signalled.
    var signalCount: Int {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return broadcasts
    }

    /// Call with `mutex` held.
    private func broadcast() {
        broadcasts += 1
        pthread_cond_broadcast(&condition)
    }

    /// Refuses further pushes and wakes the consumer; what is queued is still handed out.
    func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        broadcast()
        pthread_mutex_unlock(&mutex)
    }
}
