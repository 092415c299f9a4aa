/// One ReadIndex request waiting for a quorum of heartbeat acknowledgements.
struct ReadIndexStatus {
    var req: Message
    var index: UInt64
    var acks: Set<UInt64>
}

/// The leader's queue of pending ReadIndex requests, keyed by their context bytes.
struct ReadOnly {
    let option: ReadOnlyOption
    var pending: [[UInt8]: ReadIndexStatus] = [:]
    var queue: [[UInt8]] = []

    init(option: ReadOnlyOption) { self.option = option }

    /// Queues a request (context in `m.entries[0].data`) that will be answered with `index`.
    mutating func addRequest(index: UInt64, _ m: Message) {
        let ctx = m.entries[0].data
        if pending[ctx] != nil { return }
        pending[ctx] = ReadIndexStatus(req: m, index: index, acks: [])
        queue.append(ctx)
    }

    /// Records that `id` acknowledged the heartbeat carrying `context`; returns the acks so far.
    mutating func recvAck(_ id: UInt64, context: [UInt8]) -> Set<UInt64>? {
        guard pending[context] != nil else { return nil }
        pending[context]!.acks.insert(id)
        return pending[context]!.acks
    }

    /// Pops every request up to and including the one with `context`: a quorum acknowledging a
    /// later heartbeat also confirms the earlier ones.
    mutating func advance(context: [UInt8]) -> [ReadIndexStatus] {
        guard let pos = queue.firstIndex(of: context) else { return [] }
        var result: [ReadIndexStatus] = []
        for ctx in queue[...pos] {
            if let rs = pending.removeValue(forKey: ctx) { result.append(rs) }
        }
        queue.removeFirst(pos + 1)
        return result
    }

    var lastPendingRequestCtx: [UInt8]? { queue.last }
}
