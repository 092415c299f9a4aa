import Raft

/// One simulated member: its durable storage survives crashes; the raft node and the state
/// machine (a running checksum of applied entries) do not.
///
/// With `SimOptions.wal` the durable state is `disk` (a real WAL, see `SimDisk`) and `storage`
/// is raft's in-memory mirror of it, as in the server: a crash rebuilds `storage` from the WAL.
public final class SimNode {
    public let id: UInt64
    /// The durable state (log, hard state, snapshot): what a restart recovers from. With a WAL,
    /// raft's storage, rebuilt from the WAL at each crash.
    public private(set) var storage: MemoryStorage
    /// `SimOptions.wal`: the WAL and the backend.
    public let disk: SimDisk?
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

    init(id: UInt64, confState: ConfState, config: RaftConfig, disk: SimDisk? = nil) {
        self.id = id
        self.disk = disk
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

    /// Stops the node; a write in progress is lost. With a WAL, what it buffered since its last
    /// sync is lost too (or reaches the disk, as `mode` says), and raft's storage is rebuilt from
    /// the WAL as a restart does; the rebuilt storage is checked against the one before the
    /// crash: same snapshot, same entries (entries are always synced), the hard state last
    /// written to disk.
    func crash(_ mode: SimDisk.CrashMode = .loseUnsynced) throws {
        raft = nil
        inflight = nil
        guard let disk else { return }
        try disk.crash(mode)
        let before = storage
        storage = try disk.recover(stateMachine: durableStateMachine && started ? (applied, confState) : nil)
        if let problem = SimNode.compareRecovered(storage, before: before) {
            throw SimDisk.Failure(message: "node \(id) restarted from its WAL with \(problem)")
        }
    }

    static func compareRecovered(_ s: MemoryStorage, before b: MemoryStorage) -> String? {
        let ss = s.snap.metadata
        let bs = b.snap.metadata
        if ss.index != bs.index || ss.term != bs.term {
            return "its snapshot at \(ss.index) term \(ss.term), not at \(bs.index) term \(bs.term)"
        }
        guard let first = try? s.firstIndex(), let last = try? s.lastIndex(), let bLast = try? b.lastIndex() else { return nil }
        if last != bLast { return "its log ending at \(last), not at \(bLast)" }
        if first <= last {
            guard let es = try? s.entries(first, last + 1, maxSize: Int.max),
                  let eb = try? b.entries(first, last + 1, maxSize: Int.max) else {
                return "entries \(first)...\(last) unreadable"
            }
            for (x, y) in zip(es, eb) where x != y {
                return "entry \(x.index) of term \(x.term) where it had written entry \(y.index) of term \(y.term)"
            }
        }
        return nil
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

    /// Takes a snapshot at the applied index and compacts the log, keeping `keep` entries. With a
    /// WAL, first the snapshot record and the backend, and older segments are released
    /// (`RaftDriver.snapshot(at:)`).
    func compact(keep: UInt64) throws {
        let snapIndex = try storage.snapshot().metadata.index
        if applied <= snapIndex { return }
        if let disk {
            guard let term = try? storage.term(applied) else { return }
            try disk.release(index: applied, term: term, confState: confState, checksum: checksum)
        }
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
