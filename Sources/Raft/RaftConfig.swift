/// How a leader serves read-only requests.
public enum ReadOnlyOption: Sendable, Hashable {
    /// Confirm leadership with a heartbeat round to a quorum before answering (always linearizable).
    case safe
    /// Trust the leader lease (requires `checkQuorum`); linearizable only while clock drift is bounded.
    case leaseBased
}

/// A small deterministic pseudo-random source (SplitMix64), so that election timeouts can be
/// reproduced from a seed in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Parameters of one raft node.
public struct RaftConfig: Sendable {
    /// This node's id; must be non-zero.
    public var id: UInt64
    /// Ticks without hearing from a leader before a follower campaigns (randomized in
    /// [electionTick, 2*electionTick)).
    public var electionTick: Int = 10
    /// Ticks between leader heartbeats.
    public var heartbeatTick: Int = 1
    /// The last applied index, when restarting a node that already applied entries: raft hands
    /// out only committed entries after it. Raft's membership is rebuilt from the snapshot's
    /// `ConfState` plus the `.confChange` entries it hands out, so an application that sets this
    /// above its snapshot index must itself call `applyConfChange` for the changes in between;
    /// etcd leaves it at 0 and skips re-delivered entries by index instead (see `Ready`). A
    /// value above the persisted commit index is lowered to it.
    public var applied: UInt64 = 0
    /// Upper bound on the byte size of the entries of one append message.
    public var maxSizePerMsg: Int = 1 << 20
    /// Upper bound on the byte size of committed entries handed out by one `Ready`.
    public var maxCommittedSizePerReady: Int = 64 << 20
    /// Upper bound on uncommitted proposals in bytes (0: unlimited); more are dropped.
    public var maxUncommittedEntriesSize: Int = 0
    /// Maximum number of append messages in flight to one follower while replicating.
    public var maxInflightMsgs: Int = 256
    /// A leader steps down when it has not heard from a quorum within an election timeout.
    public var checkQuorum: Bool = false
    /// Run a pre-vote round before raising the term, so a partitioned node cannot disrupt.
    public var preVote: Bool = false
    public var readOnlyOption: ReadOnlyOption = .safe
    /// Refuse to forward proposals to the leader (they are dropped instead).
    public var disableProposalForwarding: Bool = false
    /// Seed of the random source for election timeouts.
    public var randomSeed: UInt64

    public init(id: UInt64, electionTick: Int = 10, heartbeatTick: Int = 1, randomSeed: UInt64? = nil) {
        self.id = id
        self.electionTick = electionTick
        self.heartbeatTick = heartbeatTick
        self.randomSeed = randomSeed ?? (id &* 0x2545_F491_4F6C_DD1D)
    }

    func validate() throws(RaftError) {
        if id == 0 { throw .invalidConfig("cannot use 0 as id") }
        if heartbeatTick <= 0 { throw .invalidConfig("heartbeat tick must be greater than 0") }
        if electionTick <= heartbeatTick {
            throw .invalidConfig("election tick must be greater than heartbeat tick")
        }
        if maxInflightMsgs <= 0 { throw .invalidConfig("max inflight messages must be greater than 0") }
        if readOnlyOption == .leaseBased && !checkQuorum {
            throw .invalidConfig("checkQuorum must be enabled when readOnlyOption is leaseBased")
        }
    }
}
