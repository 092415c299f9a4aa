import Raft

/// One simulated member: its durable storage survives crashes; the raft node and the state
/// machine (a running checksum of applied entries) do not.
public final class SimNode {
    public let id: UInt64
    /// The durable state (log, hard state, snapshot): what a restart recovers from.
    public let storage: MemoryStorage
    public private(set) var raft: RawNode?
    /// Applied index and checksum of the state machine.
    public private(set) var applied: UInt64 = 0
    public private(set) var checksum: UInt64 = 0
    /// Membership as of `applied`.
    public private(set) var confState: ConfState
    /// Commit index last persisted, to observe newly committed entries.
    var persistedCommit: UInt64 = 0
    /// Stopped for good after being removed from the cluster.
    public var removed = false
    let baseConfig: RaftConfig
    /// With `SimOptions.asyncPersistence`: the `Ready` taken from the node whose write to
    /// `storage` is still in progress (lost if the node crashes first).
    var inflight: InflightWrite?
    /// With `SimOptions.asyncPersistence` the state machine is durable, like etcd's backend with
    /// its consistent index: it survives a crash (it may then be ahead of the persisted commit
    /// index) and entries at or below `applied` handed out again are skipped.
    var durableStateMachine = false
    private var started = false

    /// One `Ready` being written.
    struct InflightWrite {
        var ready: Ready
        /// The simulation step at which the write is durable.
        var doneAt: Int
        /// Its messages left before the write completed (leader, `canSendBeforePersisting`).
        var sent: Bool
        /// Its committed entries were applied before the write completed.
        var applied: Bool
    }

    init(id: UInt64, confState: ConfState, config: RaftConfig) {
        self.id = id
        storage = MemoryStorage()
        if !confState.voters.isEmpty {
            // Founding members start from a snapshot at (index 1, term 1) holding the membership,
            // so that a member added later learns it from the leader's snapshot, as in etcd where
            // bootstrap writes the initial membership into the log.
            try! storage.applySnapshot(Snapshot(metadata: SnapshotMetadata(confState: confState, index: 1, term: 1)))
            storage.setHardState(HardState(term: 1, vote: 0, commit: 1))
        }
        self.confState = confState
        baseConfig = config
    }

    public var isUp: Bool { raft != nil }

    /// (Re)starts the raft node from durable storage; the state machine is rebuilt from the
    /// latest snapshot, and raft hands out the committed entries after it again.
    func start() throws {
        let snap = try storage.snapshot()
        if !(durableStateMachine && started && applied >= snap.metadata.index) {
            applied = snap.metadata.index
            checksum = SimNode.decodeChecksum(snap.data)
            if !snap.isEmpty { confState = snap.metadata.confState }
        }
        started = true
        persistedCommit = storage.hardState.commit
        var c = baseConfig
        // As etcd does: raft hands out everything after its snapshot again, so that the
        // membership changes after it are re-applied to raft even when the (durable) state
        // machine skips the entries.
        c.applied = snap.metadata.index
        raft = try RawNode(config: c, storage: storage)
    }

    /// Stops the node; a write in progress is lost.
    func crash() {
        raft = nil
        inflight = nil
    }

    func apply(_ e: Entry) {
        applied = e.index
        checksum = SimNode.mix(checksum, e)
    }

    func setConfState(_ cs: ConfState) { confState = cs }

    func restore(_ s: Snapshot) {
        applied = s.metadata.index
        checksum = SimNode.decodeChecksum(s.data)
        confState = s.metadata.confState
    }

    /// Takes a snapshot at the applied index and compacts the log, keeping `keep` entries.
    func compact(keep: UInt64) throws {
        let snapIndex = try storage.snapshot().metadata.index
        if applied <= snapIndex { return }
        try storage.createSnapshot(applied, confState: confState, data: SimNode.encodeChecksum(checksum))
        let to = applied > keep ? applied - keep : 0
        if to > snapIndex { try storage.compact(to) }
    }

    static func mix(_ h: UInt64, _ e: Entry) -> UInt64 {
        var x = h ^ (e.index &* 0x9E37_79B9_7F4A_7C15)
        x = (x ^ e.term) &* 0xBF58_476D_1CE4_E5B9
        for b in e.data { x = (x ^ UInt64(b)) &* 0x0100_0000_01B3 }
        x ^= UInt64(e.type.rawValue) << 56
        return x ^ (x >> 29)
    }

    static func encodeChecksum(_ c: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: c >> (8 * UInt64($0))) }
    }

    static func decodeChecksum(_ d: [UInt8]) -> UInt64 {
        if d.count < 8 { return 0 }
        var c: UInt64 = 0
        for i in 0..<8 { c |= UInt64(d[i]) << (8 * UInt64(i)) }
        return c
    }
}
