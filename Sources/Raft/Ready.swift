/// Everything a `RawNode` needs the application to do, handed out by `RawNode.ready()`.
///
/// The contract, in order (it is what keeps raft safe across crashes):
/// 1. **Persist** `hardState`, `entries` and `snapshot` to stable storage. When `mustSync` is
///    true the write must be durable (fsync) before step 2: a vote or a log entry a peer has been
///    told about must survive a crash, or the node could vote twice in a term or lose an
///    acknowledged entry. Entries replace any stored entries at the same or higher index.
///    A non-nil `snapshot` is installed (`MemoryStorage.applySnapshot`) and its data restored
///    into the state machine before any entry after it is applied.
/// 2. **Send** `messages`, only after step 1. (etcd permits a leader to send its appends while
///    writing its own log, since it counts itself only after `advance`; the simple order is
///    always correct.) Messages of type `.snap` carry a snapshot the transport must stream;
///    report the outcome with `reportSnapshot`.
/// 3. **Apply** `committedEntries` in order. Entries of type `.confChange` are decoded and passed to
///    `applyConfChange`. They are stored on a quorum, so etcd applies them in parallel with
///    step 1; applying after step 1 is the simple, always-correct order.
/// 4. **Acknowledge** with `advance(_:)`, passing this same value, before the next `ready()`.
///
/// `readStates` answer earlier `readIndex` calls: serve each read once the applied index reaches
/// its `index`. `softState` is informational (leader changes) and need not be persisted.
public struct Ready: Sendable {
    /// The new soft state, when it changed since the last `Ready`.
    public var softState: SoftState?
    /// The new hard state to persist, when it changed.
    public var hardState: HardState?
    /// Entries to append to stable storage before sending `messages`.
    public var entries: [Entry]
    /// A snapshot to persist and restore, received from the leader.
    public var snapshot: Snapshot?
    /// Entries committed by a quorum, to apply to the state machine.
    public var committedEntries: [Entry]
    /// Messages to send once `entries`, `hardState` and `snapshot` are durable.
    public var messages: [Message]
    /// Answers to `readIndex` requests.
    public var readStates: [ReadState]
    /// Whether the persisted data of step 1 must be synced to disk before sending.
    public var mustSync: Bool

    public init(softState: SoftState? = nil, hardState: HardState? = nil, entries: [Entry] = [],
                snapshot: Snapshot? = nil, committedEntries: [Entry] = [], messages: [Message] = [],
                readStates: [ReadState] = [], mustSync: Bool = false) {
        self.softState = softState
        self.hardState = hardState
        self.entries = entries
        self.snapshot = snapshot
        self.committedEntries = committedEntries
        self.messages = messages
        self.readStates = readStates
        self.mustSync = mustSync
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
