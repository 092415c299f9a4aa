// Value types of the consensus core. Field names mirror etcd's raftpb so that a transport can map
// them one to one onto the protobuf messages.

/// The kind of a log entry.
public enum EntryType: UInt8, Sendable, Hashable {
    /// An application command (or the empty entry a new leader appends).
    case normal = 0
    /// A membership change in the application's own encoding (etcd: raftpb.ConfChange bytes).
    /// Raft never reads the data; the application decodes it and calls `applyConfChange`.
    case confChange = 1
}

/// One entry of the replicated log.
public struct Entry: Sendable, Hashable {
    /// The leader term in which the entry was created.
    public var term: UInt64
    /// Position in the log (1-based).
    public var index: UInt64
    public var type: EntryType
    /// Opaque command bytes (for `.confChange` entries, the application's encoding of the change).
    public var data: [UInt8]

    public init(term: UInt64 = 0, index: UInt64 = 0, type: EntryType = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.type = type
        self.data = data
    }

    /// Approximate encoded size, used to bound message and batch sizes.
    @inlinable public var size: Int { data.count + 24 }
}

/// The message kinds of etcd's raftpb, with the same numbering.
public enum MessageType: UInt8, Sendable, Hashable, CaseIterable {
    case hup = 0
    case beat = 1
    case prop = 2
    case app = 3
    case appResp = 4
    case vote = 5
    case voteResp = 6
    case snap = 7
    case heartbeat = 8
    case heartbeatResp = 9
    case unreachable = 10
    case snapStatus = 11
    case checkQuorum = 12
    case transferLeader = 13
    case timeoutNow = 14
    case readIndex = 15
    case readIndexResp = 16
    case preVote = 17
    case preVoteResp = 18

    /// Local messages are generated inside a node and never cross the network.
    public var isLocal: Bool {
        switch self {
        case .hup, .beat, .unreachable, .snapStatus, .checkQuorum: return true
        default: return false
        }
    }

    /// Responses carry answers to a request and never start a campaign or update a follower's timer.
    public var isResponse: Bool {
        switch self {
        case .appResp, .voteResp, .heartbeatResp, .unreachable, .preVoteResp: return true
        default: return false
        }
    }

    /// The response type that answers a vote request of this type.
    var voteResponse: MessageType { self == .preVote ? .preVoteResp : .voteResp }
}

/// A message between raft nodes (or a local input to one), shaped like raftpb.Message.
public struct Message: Sendable, Hashable {
    public var type: MessageType
    /// Receiver's node id.
    public var to: UInt64
    /// Sender's node id.
    public var from: UInt64
    /// Sender's term (0 for local messages and forwarded proposals/reads).
    public var term: UInt64
    /// Term of the entry at `index` (the one preceding `entries` in an append).
    public var logTerm: UInt64
    /// Append: index preceding `entries`; responses: the index acknowledged or rejected;
    /// ReadIndex responses: the read index.
    public var index: UInt64
    public var entries: [Entry]
    /// The sender's commit index (appends, heartbeats).
    public var commit: UInt64
    /// The snapshot of a `.snap` message.
    public var snapshot: Snapshot?
    /// A negative answer (vote refused, append not matching).
    public var reject: Bool
    /// On a rejected append: the follower's last index, so the leader can skip back.
    public var rejectHint: UInt64
    /// Heartbeats: the ReadIndex request context; votes: the leader-transfer marker.
    public var context: [UInt8]

    public init(type: MessageType, to: UInt64 = 0, from: UInt64 = 0, term: UInt64 = 0, logTerm: UInt64 = 0,
                index: UInt64 = 0, entries: [Entry] = [], commit: UInt64 = 0, snapshot: Snapshot? = nil,
                reject: Bool = false, rejectHint: UInt64 = 0, context: [UInt8] = []) {
        self.type = type
        self.to = to
        self.from = from
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.snapshot = snapshot
        self.reject = reject
        self.rejectHint = rejectHint
        self.context = context
    }
}

/// The state that must be durable before any message depending on it is sent.
public struct HardState: Sendable, Hashable {
    /// Current term.
    public var term: UInt64
    /// The candidate voted for in `term` (0: none).
    public var vote: UInt64
    /// Highest index known committed.
    public var commit: UInt64

    public init(term: UInt64 = 0, vote: UInt64 = 0, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    public var isEmpty: Bool { term == 0 && vote == 0 && commit == 0 }
}

/// The membership of the cluster: voters decide elections and commits, learners only replicate.
public struct ConfState: Sendable, Hashable {
    /// Voting members, sorted.
    public var voters: [UInt64]
    /// Non-voting members that receive the log, sorted.
    public var learners: [UInt64]

    public init(voters: [UInt64] = [], learners: [UInt64] = []) {
        self.voters = voters
        self.learners = learners
    }
}

/// Describes the log prefix a snapshot replaces.
public struct SnapshotMetadata: Sendable, Hashable {
    /// Membership as of `index`.
    public var confState: ConfState
    /// Index of the last entry the snapshot covers.
    public var index: UInt64
    /// Term of that entry.
    public var term: UInt64

    public init(confState: ConfState = ConfState(), index: UInt64 = 0, term: UInt64 = 0) {
        self.confState = confState
        self.index = index
        self.term = term
    }
}

/// A point-in-time image of the application state plus the log position it covers.
public struct Snapshot: Sendable, Hashable {
    /// The application's serialized state.
    public var data: [UInt8]
    public var metadata: SnapshotMetadata

    public init(data: [UInt8] = [], metadata: SnapshotMetadata = SnapshotMetadata()) {
        self.data = data
        self.metadata = metadata
    }

    public var isEmpty: Bool { metadata.index == 0 }
}

/// The kind of a membership change.
public enum ConfChangeType: UInt8, Sendable, Hashable {
    /// Add a voter, or promote an existing learner to voter.
    case addNode = 0
    case removeNode = 1
    case updateNode = 2
    case addLearnerNode = 3
}

/// One membership change, as the application passes it to `applyConfChange` after decoding a
/// committed `.confChange` entry. Raft has no wire form for it: the application chooses the
/// bytes it proposes with `proposeConfChange(data:)` (etcd: raftpb.ConfChange).
public struct ConfChange: Sendable, Hashable {
    /// Application-chosen id (etcd uses it to match the waiting request).
    public var id: UInt64
    public var type: ConfChangeType
    /// The member added, removed or promoted.
    public var nodeID: UInt64
    /// Opaque application data (etcd stores the member's attributes here).
    public var context: [UInt8]

    public init(id: UInt64 = 0, type: ConfChangeType, nodeID: UInt64, context: [UInt8] = []) {
        self.id = id
        self.type = type
        self.nodeID = nodeID
        self.context = context
    }
}

/// The role a node plays.
public enum StateType: UInt8, Sendable, Hashable {
    case follower, candidate, leader, preCandidate
}

/// Volatile state that is useful to the application (logging, routing) but need not be persisted.
public struct SoftState: Sendable, Hashable {
    /// The known leader (0: none).
    public var lead: UInt64
    public var raftState: StateType

    public init(lead: UInt64, raftState: StateType) {
        self.lead = lead
        self.raftState = raftState
    }
}

/// The answer to a `readIndex` request: once the application has applied `index`, a read reflects
/// every write committed before the request. `requestCtx` is the context passed to `readIndex`.
public struct ReadState: Sendable, Hashable {
    public var index: UInt64
    public var requestCtx: [UInt8]

    public init(index: UInt64, requestCtx: [UInt8]) {
        self.index = index
        self.requestCtx = requestCtx
    }
}
