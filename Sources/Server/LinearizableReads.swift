import EtcdMetrics
import Foundation
import Raft
import Synchronization

/// Linearizable reads by ReadIndex: reads queue here; one round (a unique context) serves every
/// read queued before it started; each read is released once the applied index reaches the
/// round's read index. A round unanswered for `retryInterval` is asked again (etcd: 500 ms);
/// a read past its deadline fails with "request timed out".
final class LinearizableReads: Sendable {
    private struct Waiter {
        var deadline: ContinuousClock.Instant
        var resume: @Sendable (Result<UInt64, ServerError>) -> Void
    }

    private struct State {
        var queued: [Waiter] = []
        /// The round in flight: its context, when it was last asked, its readers.
        var round: (context: [UInt8], asked: ContinuousClock.Instant, waiters: [Waiter])?
        var nextContext: UInt64 = 1
        /// A `.readIndex` input is on its way to the driver.
        var requested = false
    }

    private let state = Mutex(State())
    private let timeout: Duration
    /// Contexts must be unique across the cluster: the leader keeps one pending read per context,
    /// so two members asking with the same one would leave one unanswered.
    private let memberID: UInt64
    static let retryInterval: Duration = .milliseconds(500)

    init(timeout: Duration, memberID: UInt64) {
        self.timeout = timeout
        self.memberID = memberID
    }

    /// Waits for a read index and returns it; `request` asks the driver for a round.
    func readIndex(request: () -> Bool) async throws(ServerError) -> UInt64 {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<UInt64, ServerError>, Never>) in
            let waiter = Waiter(deadline: .now + timeout) { c.resume(returning: $0) }
            let ask = state.withLock { s -> Bool in
                s.queued.append(waiter)
                if s.round == nil && !s.requested {
                    s.requested = true
                    return true
                }
                return false
            }
            if ask && !request() { fail(.stopped) }
        }
        return try result.get()
    }

    // MARK: Driver thread

    /// Starts a round for everything queued (no-op when one is in flight).
    func startRound(_ ask: ([UInt8]) -> Void) {
        let context: [UInt8]? = state.withLock { s in
            s.requested = false
            guard s.round == nil, !s.queued.isEmpty else { return nil }
            let ctx = withUnsafeBytes(of: memberID.bigEndian) { Array($0) } + withUnsafeBytes(of: s.nextContext.bigEndian) { Array($0) }
            s.nextContext += 1
            s.round = (ctx, .now, s.queued)
            s.queued = []
            return ctx
        }
        if let context { ask(context) }
    }

    /// Releases the readers of the round a read state answers (they wait for the applier
    /// off this thread).
    func resolve(_ states: [ReadState], applier: Applier) {
        for rs in states {
            let waiters: [Waiter]? = state.withLock { s in
                guard let round = s.round, round.context == rs.requestCtx else {
                    // An answer to a round that timed out or was re-asked: etcd counts these
                    // out-of-date read indexes as slow.
                    Meters.slowReadIndexes.increment()
                    return nil
                }
                s.round = nil
                return round.waiters
            }
            guard let waiters else { continue }
            let index = rs.index
            if applier.appliedIndex >= index {
                for w in waiters { w.resume(.success(index)) }
                continue
            }
            Task.detached {
                await applier.waitApplied(index)
                for w in waiters { w.resume(.success(index)) }
            }
        }
    }

    /// Expires late readers, re-asks an unanswered round, starts a round for queued reads.
    func tick(now: ContinuousClock.Instant, ask: ([UInt8]) -> Void) {
        var late: [Waiter] = []
        let reask: [UInt8]? = state.withLock { s in
            late = s.queued.filter { $0.deadline <= now }
            s.queued.removeAll { $0.deadline <= now }
            guard var round = s.round else { return nil }
            late += round.waiters.filter { $0.deadline <= now }
            round.waiters.removeAll { $0.deadline <= now }
            if round.waiters.isEmpty {
                s.round = nil
                return nil
            }
            guard now - round.asked >= Self.retryInterval else {
                s.round = round
                return nil
            }
            round.asked = now
            s.round = round
            return round.context
        }
        // etcd counts one slow read index per timed-out round, whatever its number of readers.
        if !late.isEmpty { Meters.slowReadIndexes.increment() }
        for w in late { w.resume(.failure(.timeout)) }
        if let reask { ask(reask) }
        startRound(ask)
    }

    /// Fails every queued and in-flight read (stop).
    func failAll(_ error: ServerError) { fail(error) }

    /// Fails the reads of the round in flight (the leader that was asked is gone); queued reads
    /// wait for the next round.
    func failRound(_ error: ServerError) {
        let waiters = state.withLock { s -> [Waiter] in
            defer { s.round = nil }
            return s.round?.waiters ?? []
        }
        if !waiters.isEmpty { Meters.readIndexesFailed.increment() }
        for w in waiters { w.resume(.failure(error)) }
    }

    private func fail(_ error: ServerError) {
        let all = state.withLock { s -> [Waiter] in
            let w = s.queued + (s.round?.waiters ?? [])
            s.queued = []
            s.round = nil
            s.requested = false
            return w
        }
        for w in all { w.resume(.failure(error)) }
    }
}
