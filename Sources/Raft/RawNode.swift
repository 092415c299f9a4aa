/// The public face of a raft node: a pure state machine driven by `tick()` and `step(_:)`, whose
/// effects are collected with `ready()` and acknowledged with `advance(_:)`. Not thread-safe:
/// one owner (the raft loop) calls it.
public final class RawNode {
    let raft: RaftCore
    private var prevSoftState: SoftState
    private var prevHardState: HardState

    /// Creates a node over `storage`. A fresh cluster member's storage holds the initial
    /// membership (`MemoryStorage(confState:)`); a restarting node's holds what it persisted.
    public init(config: RaftConfig, storage: any RaftStorage) throws(RaftError) {
        raft = try RaftCore(config: config, storage: storage)
        prevSoftState = raft.softState
        prevHardState = raft.hardState
    }

    /// Initializes a founding member of a new cluster, as etcd's `StartNode` does: appends one
    /// `.confChange` entry per peer at term 1 (index 1, 2, ... in the order given), marks them
    /// committed and adds each peer as a voter. `data` is the application's encoding of that
    /// peer's `.addNode` change (etcd: a marshaled raftpb.ConfChange{Type: AddNode, NodeID: id,
    /// Context: member JSON}); raft stores it as the entry's data and never reads it. The next
    /// `Ready` hands the entries out to persist and apply (applying them again through
    /// `applyConfChange` is harmless). Because the membership lives in the log, members added
    /// later learn it by replication. The storage must be empty.
    public func bootstrap(peers: [(id: UInt64, data: [UInt8])]) throws(RaftError) {
        if peers.isEmpty { throw .invalidConfig("must provide at least one peer to bootstrap") }
        if peers.contains(where: { $0.id == 0 }) { throw .invalidConfig("cannot use 0 as a peer id") }
        let r = raft
        if r.raftLog.lastIndex() != 0 || r.term != 0 {
            throw .invalidConfig("can't bootstrap a nonempty storage")
        }
        r.becomeFollower(term: 1, lead: 0)
        var ents: [Entry] = []
        ents.reserveCapacity(peers.count)
        for (i, p) in peers.enumerated() {
            ents.append(Entry(term: 1, index: UInt64(i + 1), type: .confChange, data: p.data))
        }
        r.raftLog.append(ents[...])
        r.raftLog.committed = UInt64(ents.count)
        for p in peers { _ = r.applyConfChange(ConfChange(type: .addNode, nodeID: p.id)) }
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

    /// Proposes a membership change: `data` is the application's encoding of it (etcd: a
    /// marshaled raftpb.ConfChange), appended as an entry of type `.confChange` that raft never
    /// decodes. Once committed, the application decodes the entry and calls `applyConfChange`.
    /// Only one change may be pending: while an earlier one is not yet handed out for applying,
    /// the leader replaces the new one with an empty `.normal` entry (so the application should
    /// time out a change that never shows up as applied, as etcd does).
    public func proposeConfChange(data: [UInt8]) throws(RaftError) {
        try raft.step(Message(type: .prop, from: raft.id, entries: [Entry(type: .confChange, data: data)]))
    }

    /// Applies a committed membership change (called by the application for each committed
    /// `.confChange` entry, in log order, on the thread that drives this node, and before
    /// `advance` of the `Ready` that handed the entry out) and returns the new membership.
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
    /// `advance(_:)` with it. Messages may be stepped (and `tick`, `propose`, ... called) between
    /// `ready()` and `advance(_:)`; what they produce goes into the next `Ready`.
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
        // Every committed entry handed out is already in storage unless it is among this Ready's
        // own entries (a single-voter leader commits an entry as soon as it appends it; a
        // follower may learn the commit index together with the entries).
        let committedOverlapsEntries: Bool
        if let firstNew = rd.entries.first?.index, let lastCommitted = rd.committedEntries.last?.index {
            committedOverlapsEntries = lastCommitted >= firstNew
        } else {
            committedOverlapsEntries = false
        }
        rd.canApplyBeforePersisting = rd.snapshot == nil && !committedOverlapsEntries
        // A leader's messages carry no vote and no term of its own that is not already durable,
        // and (with more than one voter) a commit index that covers only entries persisted by an
        // earlier Ready: so they may leave while this Ready is being written (etcd 3.4's
        // raftNode). Not so when this Ready changes term or vote (a single-voter election) or
        // when the commit index covers unpersisted entries (a single-voter leader).
        let commitCoversUnstable = rd.entries.first.map { r.raftLog.committed >= $0.index } ?? false
        rd.canSendBeforePersisting = r.state == .leader && rd.snapshot == nil
            && hs.term == prevHardState.term && hs.vote == prevHardState.vote && !commitCoversUnstable
        r.msgs = []
        r.readStates = []
        return rd
    }

    /// Acknowledges that `rd` was persisted (durably, when `mustSync`) and its messages handed to
    /// the transport. Its committed entries need only have been handed to the applier; those of
    /// type `.confChange` must have been passed to `applyConfChange` already.
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
    public var lead: UInt64 { raft.lead }
    /// The known leader (0 if none); same as `lead`.
    public var leader: UInt64 { raft.lead }
    /// The role this node plays now.
    public var raftState: StateType { raft.state }
    public var isLeader: Bool { raft.state == .leader }
    /// The commit index.
    public var committed: UInt64 { raft.raftLog.committed }
    /// The highest index handed out for applying (by `advance` of a `Ready`), not necessarily
    /// applied yet by an application that applies on another thread.
    public var applied: UInt64 { raft.raftLog.applied }
    /// Whether the entry at the commit index belongs to the current term. A new leader learns the
    /// true commit index only when an entry of its own term commits (its empty entry, Raft §6.4),
    /// so until then it refuses `readIndex` (the request is dropped and must be retried); etcd
    /// waits for this before serving linearizable reads after a leader change.
    public var hasCommittedEntryInCurrentTerm: Bool {
        let r = raft
        return r.raftLog.zeroTermOnCompacted(r.raftLog.committed) == r.term
    }
    /// Whether a snapshot received from the leader is waiting to be persisted (it is, or will be,
    /// in a `Ready`; it stops pending at the `advance` of that `Ready`).
    public var hasPendingSnapshot: Bool { raft.raftLog.unstable.snapshot != nil }
}
