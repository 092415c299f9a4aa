import Raft

/// A seeded, lossy network for the simulation: messages are delayed by a random number of
/// steps (which reorders them), dropped, duplicated, and cut by symmetric or one-way partitions.
public struct SimNetwork {
    public struct InFlight {
        public var deliverAt: Int
        public var message: Message
    }

    /// Probability (0...1) that a message is lost.
    public var dropRate: Double = 0
    /// Probability that a message is delivered twice.
    public var duplicateRate: Double = 0
    /// Largest delay of a message, in simulation steps.
    public var maxDelay: Int = 0
    /// Directed links that are cut: a message from `from` to `to` is lost while `(from, to)` is here.
    /// Deliver in send order (a healed network behaves like TCP streams).
    public var fifo = false
    public private(set) var blocked: Set<Link> = []
    public private(set) var queue: [InFlight] = []

    public struct Link: Hashable, Sendable {
        public var from: UInt64
        public var to: UInt64
    }

    public init() {}

    public func isBlocked(_ from: UInt64, _ to: UInt64) -> Bool {
        !blocked.isEmpty && blocked.contains(Link(from: from, to: to))
    }

    /// Cuts both directions between `a` and `b`.
    public mutating func cut(_ a: UInt64, _ b: UInt64) {
        blocked.insert(Link(from: a, to: b))
        blocked.insert(Link(from: b, to: a))
    }

    /// Cuts only messages from `from` to `to`.
    public mutating func cutOneWay(from: UInt64, to: UInt64) {
        blocked.insert(Link(from: from, to: to))
    }

    /// Cuts `id` off from every node in `others`, both ways.
    public mutating func isolate(_ id: UInt64, from others: [UInt64]) {
        for o in others where o != id { cut(id, o) }
    }

    public mutating func heal() { blocked.removeAll() }

    /// Queues `m` for delivery after a random delay; may drop or duplicate it. Returns false when
    /// the message was dropped at once.
    @discardableResult
    public mutating func send<R: RandomNumberGenerator>(_ m: Message, now: Int, rng: inout R) -> Bool {
        if dropRate > 0 && Double.random(in: 0..<1, using: &rng) < dropRate { return false }
        let delay = maxDelay > 0 ? Int.random(in: 0...maxDelay, using: &rng) : 0
        queue.append(InFlight(deliverAt: now + delay, message: m))
        if duplicateRate > 0 && Double.random(in: 0..<1, using: &rng) < duplicateRate {
            let d2 = maxDelay > 0 ? Int.random(in: 0...maxDelay, using: &rng) : 0
            queue.append(InFlight(deliverAt: now + d2, message: m))
        }
        return true
    }

    /// Removes and returns the messages due at `now`, in random order. Messages crossing a cut
    /// link at this moment are returned in `lost`.
    public mutating func due<R: RandomNumberGenerator>(now: Int, rng: inout R) -> (deliver: [Message], lost: [Message]) {
        var deliver: [Message] = []
        var lost: [Message] = []
        var rest: [InFlight] = []
        rest.reserveCapacity(queue.count)
        for f in queue {
            if f.deliverAt <= now {
                if isBlocked(f.message.from, f.message.to) { lost.append(f.message) } else { deliver.append(f.message) }
            } else {
                rest.append(f)
            }
        }
        queue = rest
        if !fifo { deliver.shuffle(using: &rng) }
        return (deliver, lost)
    }

    /// Drops everything in flight (used to model a quiet network after healing).
    public mutating func clear() { queue.removeAll() }
}
