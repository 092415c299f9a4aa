import NIOCore
import Synchronization

/// Bounds the gateway's calls in flight the way etcd's gateway is bounded. grpc-gateway reaches gRPC
/// over one loopback connection, and gRPC's server allows `--max-concurrent-streams` streams on it: a
/// call over the limit waits in grpc-go's client until another stream ends or its HTTP client gives up.
/// Open watches thus hold slots, and a range behind them hangs (etcd's `TestV3Curl_MaxStreams_*`).
public final class StreamSlots: Sendable {
    /// How an ``acquire(on:_:)`` went.
    public enum Acquired: Equatable, Sendable {
        /// A slot is the caller's now; the callback will not run.
        case granted
        /// The caller waits; the callback runs on its loop once a slot is the caller's. `ticket` withdraws.
        case waiting(ticket: UInt64)
    }

    private struct Waiter {
        let ticket: UInt64
        let eventLoop: any EventLoop
        let granted: @Sendable () -> Void
    }

    private struct State {
        var free: Int
        var nextTicket: UInt64 = 1
        /// First come, first served, as the streams waiting for quota in grpc-go.
        var waiters: CircularBuffer<Waiter> = []
    }

    private let state: Mutex<State>
    public let capacity: Int

    public init(capacity: Int) {
        precondition(capacity >= 0, "a negative number of streams")
        self.capacity = capacity
        state = Mutex(State(free: capacity))
    }

    /// Slots in use (for tests and diagnostics).
    public var inUse: Int { state.withLock { capacity - $0.free } }

    /// Takes a slot now if one is free; otherwise queues `granted` to run on `eventLoop` when one is
    /// handed over. A granted slot is given back with ``release()``.
    public func acquire(on eventLoop: any EventLoop, _ granted: @escaping @Sendable () -> Void) -> Acquired {
        state.withLock { s in
            if s.free > 0 {
                s.free -= 1
                return .granted
            }
            let ticket = s.nextTicket
            s.nextTicket += 1
            s.waiters.append(Waiter(ticket: ticket, eventLoop: eventLoop, granted: granted))
            return .waiting(ticket: ticket)
        }
    }

    /// Leaves the queue. False when the slot was handed over already: its callback is on its way and
    /// the caller owns the slot (and must release it).
    public func withdraw(_ ticket: UInt64) -> Bool {
        state.withLock { s in
            guard let i = s.waiters.firstIndex(where: { $0.ticket == ticket }) else { return false }
            s.waiters.remove(at: i)
            return true
        }
    }

    /// Gives a slot back: to the first waiter if there is one, else to the pool.
    public func release() {
        let next: Waiter? = state.withLock { s in
            if let w = s.waiters.popFirst() { return w }
            precondition(s.free < capacity, "a stream slot released twice")
            s.free += 1
            return nil
        }
        if let next { next.eventLoop.execute(next.granted) }
    }
}
