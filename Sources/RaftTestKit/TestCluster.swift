import Raft

/// A synchronous in-memory cluster for scenario tests, in the style of etcd's raft test network:
/// messages are delivered breadth-first until none are left, with links that can be cut and
/// message types that can be dropped. Every `Ready` is handled by the contract at once.
public final class TestCluster {
    public private(set) var nodes: [UInt64: RawNode] = [:]
    public private(set) var storages: [UInt64: MemoryStorage] = [:]
    /// Entries each node applied, in order.
    public private(set) var applied: [UInt64: [Entry]] = [:]
    /// Read states each node received.
    public private(set) var readStates: [UInt64: [ReadState]] = [:]
    /// Messages that were dropped, for inspection.
    public private(set) var dropped: [Message] = []
    public var configs: [UInt64: RaftConfig] = [:]
    private var cut: Set<[UInt64]> = []
    private var ignored: Set<MessageType> = []
    /// When set, every message delivered is passed here first (return false to drop it).
    public var filter: ((Message) -> Bool)?

    /// Creates nodes `ids`, all voters, each with `configure` applied to its config. Storage
    /// prepared by the caller (to preset logs) can be passed in `storages`.
    public init(ids: [UInt64], storages preset: [UInt64: MemoryStorage] = [:],
                configure: (inout RaftConfig) -> Void = { _ in }) throws {
        for id in ids {
            var c = RaftConfig(id: id, electionTick: 10, heartbeatTick: 1)
            configure(&c)
            configs[id] = c
            let s = preset[id] ?? MemoryStorage(confState: ConfState(voters: ids))
            storages[id] = s
            nodes[id] = try RawNode(config: c, storage: s)
            applied[id] = []
        }
    }

    /// Adds a node with the given storage (e.g. an empty one for a new member).
    public func add(_ id: UInt64, storage: MemoryStorage, configure: (inout RaftConfig) -> Void = { _ in }) throws {
        var c = RaftConfig(id: id, electionTick: 10, heartbeatTick: 1)
        configure(&c)
        configs[id] = c
        storages[id] = storage
        nodes[id] = try RawNode(config: c, storage: storage)
        applied[id] = []
    }

    /// Replaces node `id` by a fresh one recovered from its storage (a crash and restart).
    public func restart(_ id: UInt64) throws {
        var c = configs[id]!
        c.applied = applied[id]?.last?.index ?? 0
        nodes[id] = try RawNode(config: c, storage: storages[id]!)
    }

    public func node(_ id: UInt64) -> RawNode { nodes[id]! }

    // MARK: faults

    public func cut(_ a: UInt64, _ b: UInt64) {
        cut.insert([a, b])
        cut.insert([b, a])
    }

    public func cutOneWay(from a: UInt64, to b: UInt64) { cut.insert([a, b]) }

    public func isolate(_ id: UInt64) {
        for o in nodes.keys where o != id { cut(id, o) }
    }

    public func ignore(_ t: MessageType) { ignored.insert(t) }

    /// Heals every cut and stops ignoring message types.
    public func recover() {
        cut.removeAll()
        ignored.removeAll()
    }

    // MARK: driving

    /// Handles node `id`'s pending `Ready`s and returns the messages it wants sent.
    @discardableResult
    public func drain(_ id: UInt64) -> [Message] {
        guard let n = nodes[id], let s = storages[id] else { return [] }
        var out: [Message] = []
        while n.hasReady() {
            let rd = n.ready()
            if let snap = rd.snapshot { try? s.applySnapshot(snap) }
            s.append(rd.entries)
            if let hs = rd.hardState { s.setHardState(hs) }
            out.append(contentsOf: rd.messages)
            for e in rd.committedEntries {
                applied[id, default: []].append(e)
                if e.type == .confChange, let cc = ConfChangeCodec.decode(e.data) { n.applyConfChange(cc) }
            }
            readStates[id, default: []].append(contentsOf: rd.readStates)
            n.advance(rd)
        }
        return out
    }

    /// Delivers `msgs` and everything they cause, until the cluster is quiet.
    public func send(_ msgs: [Message]) {
        var queue = msgs[...]
        while let m = queue.popFirst() {
            if cut.contains([m.from, m.to]) || ignored.contains(m.type) || filter?(m) == false {
                dropped.append(m)
                continue
            }
            guard let n = nodes[m.to] else {
                dropped.append(m)
                continue
            }
            _ = try? n.step(m)
            queue.append(contentsOf: drain(m.to))
        }
    }

    /// Delivers whatever every node has pending.
    public func flush() {
        var msgs: [Message] = []
        for id in nodes.keys.sorted() { msgs.append(contentsOf: drain(id)) }
        send(msgs)
    }

    /// Makes `id` campaign and runs the election to completion.
    public func campaign(_ id: UInt64) {
        try? node(id).campaign()
        flush()
    }

    /// Proposes at `id` and replicates to completion; returns the error if it was refused.
    @discardableResult
    public func propose(_ id: UInt64, _ data: [UInt8]) -> RaftError? {
        var err: RaftError?
        do { try node(id).propose(data) } catch { err = error }
        flush()
        return err
    }

    /// Ticks `id` `n` times, delivering what each tick causes.
    public func tick(_ id: UInt64, _ n: Int = 1) {
        for _ in 0..<n {
            node(id).tick()
            flush()
        }
    }

    /// Ticks every node `n` times, in id order each round.
    public func tickAll(_ n: Int = 1) {
        for _ in 0..<n {
            for id in nodes.keys.sorted() { node(id).tick() }
            flush()
        }
    }

    /// The node that is leader in the highest term, if any.
    public var leader: UInt64? {
        nodes.values.filter { $0.isLeader }.max { $0.term < $1.term }?.id
    }

    /// The persisted log of `id` (after its snapshot).
    public func log(_ id: UInt64) -> [Entry] {
        let s = storages[id]!
        guard let f = try? s.firstIndex(), let l = try? s.lastIndex(), l >= f else { return [] }
        return (try? s.entries(f, l + 1, maxSize: Int.max)) ?? []
    }
}
