/// Everything a `RawNode` needs the application to do, handed out by `RawNode.ready()`.
///
/// The simple order, always correct (it is what keeps raft safe across crashes):
/// 1. **Persist** `snapshot`, `hardState` and `entries` to stable storage, in that order (a
///    snapshot first, so that entries after it have a base). When `mustSync` is true the write
///    must be durable (fsync) before step 2: a vote or a log entry a peer has been told about
///    must survive a crash, or the node could vote twice in a term or lose an acknowledged
///    entry. Entries replace any stored entries at the same or higher index. Then make them
///    visible to raft's storage (`MemoryStorage.applySnapshot` / `append` / `setHardState`).
/// 2. **Send** `messages`. Messages of type `.snap` carry a snapshot the transport must
///    stream; report the outcome with `reportSnapshot`. A message that cannot be delivered
///    can be dropped (raft retries); report unreachable peers with `reportUnreachable`.
/// 3. **Apply** `snapshot` (restore the state machine from it) and then `committedEntries`, in
///    order. Entries of type `.confChange` hold the application's own encoding of the change
///    (raft never decodes them): decode, then call `applyConfChange` on the raft thread.
/// 4. **Acknowledge** with `advance(_:)`, passing this same value, before the next `ready()`.
///
/// The pipelined order etcd 3.4's raftNode uses is also safe, within these limits:
/// - **Apply in parallel with persisting.** When `canApplyBeforePersisting` is true, the
///   committed entries may go to an apply thread as soon as the `Ready` is taken, while the raft
///   thread persists `entries`/`hardState` of the same `Ready`. Every such committed entry is
///   already in raft's storage (persisted by an earlier `Ready`) and stored on a quorum. It is
///   false when a `snapshot` must be persisted before it is restored, or when committed entries
///   are among this `Ready`'s own `entries` (a single-voter leader commits what it appends; a
///   follower may learn the commit index with the entries): then persist first, or a write
///   acknowledged to a client could be lost by a crash (etcd issue 14370, fixed the same way).
///   `advance(_:)` may be called once the `Ready` is persisted and sent, before the apply
///   thread finishes, with one exception: `.confChange` entries must have been passed to
///   `applyConfChange` before `advance` (etcd waits for the apply thread when a `Ready` holds
///   one), or the node could campaign or count votes with a stale membership. A snapshot may be
///   taken at any applied index (applied entries are always in the persisted log already),
///   on the raft thread.
/// - **A leader sends before its own fsync.** When `canSendBeforePersisting` is true, `messages`
///   may be sent before step 1 completes. The leader counts its own new entries toward the
///   commit quorum at once (`RaftCore.appendEntries`, as etcd 3.4's raft does), but a commit
///   index that depends on them is only handed out in a later `Ready`, which `ready()` produces
///   after `advance(_:)` of this one, hence after this one is durable: the leader's unpersisted
///   entries never count for a commit anybody observes, and if it crashes before the write they
///   are simply uncommitted entries that followers may hold. It is false for followers and
///   candidates (an acknowledgement or a vote must not leave before the state it vouches for is
///   durable), for a `Ready` that changes term or vote (a single-voter election), and when the
///   commit index covers this `Ready`'s entries (a single voter). Hence: call `advance(_:)` only
///   after the persist of this `Ready` completed, even when its messages left early.
/// - **After a crash** a state machine that persists on its own (etcd's backend with its
///   consistent index) may be ahead of the raft log's persisted commit index, or even hold a
///   snapshot above it; raft accepts both (the commit index is raised to the snapshot's). Do as
///   etcd does on restart: rebuild the storage (snapshot, hard state, entries), leave
///   `RaftConfig.applied` at 0 so that raft hands out every entry after its snapshot again,
///   skip the ones at or below the state machine's consistent index, but still pass every
///   `.confChange` entry among them to `applyConfChange`: raft's membership starts from the
///   snapshot's `ConfState` and is rebuilt only that way. (A nonzero `applied` above the
///   persisted commit index is lowered to it.)
///
/// Accessors such as `committed` or `hasCommittedEntryInCurrentTerm` show the in-memory state,
/// which between `ready()` and `advance(_:)` may count a leader's unpersisted entries: act only
/// on what `Ready`s hand out.
///
/// `readStates` answer earlier `readIndex` calls: serve each read once the applied index reaches
/// its `index`. `softState` is informational (leader changes) and need not be persisted.
public struct Ready: Sendable {
    /// The new soft state, when it changed since the last `Ready`.
    public var softState: SoftState?
    /// The new hard state to persist, when it changed.
    public var hardState: HardState?
    /// Entries to append to stable storage (before sending `messages`, unless
    /// `canSendBeforePersisting`).
    public var entries: [Entry]
    /// A snapshot to persist and restore, received from the leader.
    public var snapshot: Snapshot?
    /// Entries committed by a quorum, to apply to the state machine.
    public var committedEntries: [Entry]
    /// Messages to send once `entries`, `hardState` and `snapshot` are durable (at once when
    /// `canSendBeforePersisting`).
    public var messages: [Message]
    /// Answers to `readIndex` requests.
    public var readStates: [ReadState]
    /// Whether the persisted data of step 1 must be synced to disk before sending.
    public var mustSync: Bool
    /// Whether `committedEntries` may be applied while `entries`, `hardState` and `snapshot` are
    /// still being persisted: no snapshot, and every committed entry handed out was persisted by
    /// an earlier `Ready`. See the type's documentation.
    public var canApplyBeforePersisting: Bool
    /// Whether `messages` may be sent before `entries` and `hardState` are durable: true only for
    /// a leader whose term and vote are already durable and whose commit index covers no entry
    /// of this `Ready`. See the type's documentation.
    public var canSendBeforePersisting: Bool

    public init(softState: SoftState? = nil, hardState: HardState? = nil, entries: [Entry] = [],
                snapshot: Snapshot? = nil, committedEntries: [Entry] = [], messages: [Message] = [],
                readStates: [ReadState] = [], mustSync: Bool = false,
                canApplyBeforePersisting: Bool = false, canSendBeforePersisting: Bool = false) {
        self.softState = softState
        self.hardState = hardState
        self.entries = entries
        self.snapshot = snapshot
        self.committedEntries = committedEntries
        self.messages = messages
        self.readStates = readStates
        self.mustSync = mustSync
        self.canApplyBeforePersisting = canApplyBeforePersisting
        self.canSendBeforePersisting = canSendBeforePersisting
    }

    /// The applied index after this `Ready` is processed: the last committed entry handed out,
    /// or the snapshot's index.
    var appliedCursor: UInt64 {
        if let last = committedEntries.last { return last.index }
        if let s = snapshot, s.metadata.index > 0 { return s.metadata.index }
        return 0
    }
}

/// The replication state of one peer, as the leader sees it.
public struct PeerStatus: Sendable, Hashable {
    public var match: UInt64
    public var next: UInt64
    public var state: ProgressState
    public var recentActive: Bool
    public var isLearner: Bool
}

/// A snapshot of a node's state, for monitoring and tests.
public struct Status: Sendable {
    public var id: UInt64
    public var hardState: HardState
    public var softState: SoftState
    public var applied: UInt64
    /// Every tracked peer's progress; filled only on the leader.
    public var progress: [UInt64: PeerStatus]
    public var leadTransferee: UInt64
    public var confState: ConfState
}

/// The outcome of sending a snapshot, reported with `RawNode.reportSnapshot`.
public enum SnapshotStatus: Sendable {
    case finish, failure
}
