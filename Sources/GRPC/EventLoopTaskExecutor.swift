import NIOCore

/// Runs tasks' jobs on a NIO event loop, so that a handler task started with this executor preference
/// runs on its connection's loop thread instead of hopping to the global pool and back.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `loop` is immutable and EventLoop is thread-safe.
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        loop.execute {
            unowned.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
