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
        if items.count == 1 { pthread_cond_signal(&condition) }
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

    /// Refuses further pushes and wakes the consumer; what is queued is still handed out.
    func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }
}
