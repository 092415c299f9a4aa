/// The public face of a raft node: a pure state machine driven by `tick()` and `step(_:)`, whose
/// effects are collected with `ready()` and acknowledged with `advance(_:)`. Not thread-safe:
/// one owner (the raft loop) calls it.
public final class RawNode {
    let raft: RaftCore
    private var prevSoftState: SoftState
    private var prevHardState: HardState

    /// Creates a node over `storage`. A fresh cluster member's storage holds the initial
    /// membership (`MemoryStorage(confState:)`); a restarting node's holds what it persisted.
    public init(config: Config, storage: any Storage) throws(RaftError) {
        raft = try RaftCore(config: config, storage: storage)
        prevSoftState = raft.softState
        prevHardState = raft.hardState
    }

    /// Initializes a founding member of a new cluster, as etcd does: appends one `.addNode`
    /// membership entry per peer at term 1, marks them committed and applies them. The next
    /// `Ready` hands them out to persist and apply (applying them again is harmless). Because
    /// the membership lives in the log, members added later learn it by replication. The
    /// storage must be empty.
    public func bootstrap(peers: [UInt64]) throws(RaftError) {
        if peers.isEmpty { throw .invalidConfig("must provide at least one peer to bootstrap") }
        let r = raft
        if r.raftLog.lastIndex() != 0 || r.term != 0 {
            throw .invalidConfig("can't bootstrap a nonempty storage")
        }
        r.becomeFollower(term: 1, lead: 0)
        var ents: [Entry] = []
        for (i, p) in peers.enumerated() {
            ents.append(Entry(term: 1, index: UInt64(i + 1), type: .confChange,
                              data: ConfChange(type: .addNode, nodeID: p).encoded()))
        }
        r.raftLog.append(ents[...])
        r.raftLog.committed = UInt64(ents.count)
        for p in peers { _ = r.applyConfChange(ConfChange(type: .addNode, nodeID: p)) }
    }

    /// Advances logical time by one tick (elections, heartbeats, check-quorum).
    public func tick() { raft.tick() }

    /// Starts an election now (skipping the election timeout).
    public func campaign() throws(RaftError) {
        try raft.step(Message(type: .hup))
    }

    /// Proposes `data` for the log. Throws `.proposalDropped` if there is no leader to take it, a
    /// leader transfer is under way, or the uncommitted-size limit is reached. Success means only
    /// that the proposal was accepted for replication, not that it will commit.
    public func propose(_ data: [UInt8]) throws(RaftError) {
        try raft.step(Message(type: .prop, from: raft.id, entries: [Entry(data: data)]))
    }

    /// Proposes several entries in one message (batching).
    public func propose(batch: [[UInt8]]) throws(RaftError) {
        if batch.isEmpty { return }
        var ents: [Entry] = []
        ents.reserveCapacity(batch.count)
        for d in batch { ents.append(Entry(data: d)) }
        try raft.step(Message(type: .prop, from: raft.id, entries: ents))
    }

    /// Proposes a membership change. Only one may be pending: while an earlier one is not
    /// applied, the leader replaces the new one with an empty entry.
    public func proposeConfChange(_ cc: ConfChange) throws(RaftError) {
        try raft.step(Message(type: .prop, from: raft.id, entries: [Entry(type: .confChange, data: cc.encoded())]))
    }

    /// Applies a committed membership change (called by the application for each committed
    /// `.confChange` entry, in log order) and returns the new membership.
    @discardableResult
    public func applyConfChange(_ cc: ConfChange) -> ConfState {
        raft.applyConfChange(cc)
    }

    /// Feeds a message received from a peer. Local message types are refused.
    public func step(_ m: Message) throws(RaftError) {
        if m.type.isLocal { throw .stepLocalMessage }
        if raft.prs.progress[m.from] != nil || !m.type.isResponse {
            try raft.step(m)
            return
        }
        throw .stepPeerNotFound
    }

    /// Requests a linearizable read point. The answer arrives as a `ReadState` carrying
    /// `context` in a later `Ready` (none if there is no leader or it has not yet committed an
    /// entry of its term; the caller retries).
    public func readIndex(context: [UInt8]) {
        _ = try? raft.step(Message(type: .readIndex, entries: [Entry(data: context)]))
    }

    /// Asks the leader to hand leadership to `transferee`.
    public func transferLeader(to transferee: UInt64) {
        _ = try? raft.step(Message(type: .transferLeader, from: transferee))
    }

    /// Tells the leader that `id` could not be reached, so it stops streaming optimistically.
    public func reportUnreachable(_ id: UInt64) {
        _ = try? raft.step(Message(type: .unreachable, from: id))
    }

    /// Tells the leader how sending a snapshot to `id` ended.
    public func reportSnapshot(_ id: UInt64, status: SnapshotStatus) {
        _ = try? raft.step(Message(type: .snapStatus, from: id, reject: status == .failure))
    }

    /// Whether `ready()` would return anything worth processing.
    public func hasReady() -> Bool {
        let r = raft
        if r.softState != prevSoftState { return true }
        let hs = r.hardState
        if !hs.isEmpty && hs != prevHardState { return true }
        if r.raftLog.unstable.snapshot != nil { return true }
        if !r.msgs.isEmpty || !r.raftLog.unstable.entries.isEmpty || r.raftLog.hasNextEntries() { return true }
        return !r.readStates.isEmpty
    }

    /// Collects the pending work. Process it as the ``Ready`` contract says, then call
    /// `advance(_:)` with it.
    public func ready() -> Ready {
        let r = raft
        var rd = Ready(entries: r.raftLog.unstableEntries(), committedEntries: r.raftLog.nextEntries(),
                       messages: r.msgs)
        let ss = r.softState
        if ss != prevSoftState {
            rd.softState = ss
            prevSoftState = ss
        }
        let hs = r.hardState
        if hs != prevHardState { rd.hardState = hs }
        rd.snapshot = r.raftLog.unstable.snapshot
        rd.readStates = r.readStates
        rd.mustSync = !rd.entries.isEmpty || hs.vote != prevHardState.vote || hs.term != prevHardState.term
        r.msgs = []
        r.readStates = []
        return rd
    }

    /// Acknowledges that `rd` was persisted, sent and applied as the contract says.
    public func advance(_ rd: Ready) {
        let r = raft
        if let hs = rd.hardState { prevHardState = hs }
        let applied = rd.appliedCursor
        if applied > 0 { r.raftLog.appliedTo(applied) }
        r.reduceUncommittedSize(rd.committedEntries)
        if let e = rd.entries.last { r.raftLog.stableTo(e.index, e.term) }
        if let s = rd.snapshot { r.raftLog.stableSnapTo(s.metadata.index) }
    }

    /// The node's current state.
    public var status: Status {
        let r = raft
        var progress: [UInt64: PeerStatus] = [:]
        if r.state == .leader {
            for (pid, pr) in r.prs.progress {
                progress[pid] = PeerStatus(match: pr.match, next: pr.next, state: pr.state,
                                           recentActive: pr.recentActive, isLearner: pr.isLearner)
            }
        }
        return Status(id: r.id, hardState: r.hardState, softState: r.softState, applied: r.raftLog.applied,
                      progress: progress, leadTransferee: r.leadTransferee, confState: r.prs.confState)
    }

    /// This node's id.
    public var id: UInt64 { raft.id }
    /// The current term.
    public var term: UInt64 { raft.term }
    /// The known leader (0 if none).
    public var leader: UInt64 { raft.lead }
    public var isLeader: Bool { raft.state == .leader }
    /// The commit index.
    public var committed: UInt64 { raft.raftLog.committed }
}
