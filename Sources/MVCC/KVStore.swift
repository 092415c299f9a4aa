import Storage

/// The multi-version key-value store on an LMDB `Backend` (etcd's mvcc store).
///
/// Concurrency: exactly one writer at a time (the apply loop: `write()`, `beginBatch()`,
/// `compact(_:)`) and any number of concurrent `read()` views. A view pins an LMDB snapshot, so
/// the writer never waits for readers; the in-memory index is shared under a writer-preferring reader-writer lock held
/// only for index lookups and updates, never across disk reads.
///
/// `@unchecked Sendable`: `index` and `leaseList` are `Guarded` (their own locks), `backend` is
/// Sendable and the other stored properties are immutable.
public final class KVStore: @unchecked Sendable {
    public struct Options: Sendable {
        /// Keys compacted (and revisions deleted) per step, bounding lock hold and LMDB
        /// transaction sizes.
        public var compactionBatchLimit: Int

        public init(compactionBatchLimit: Int = 10_000) { self.compactionBatchLimit = compactionBatchLimit }
    }

    public let backend: Backend
    let options: Options
    let index: Guarded<IndexState>
    let leaseList: Guarded<[(key: [UInt8], lease: Int64)]>

    /// Lease of every live key that had one when the store was opened or last reloaded, for the
    /// lessor to re-attach.
    public var restoredLeases: [(key: [UInt8], lease: Int64)] { leaseList.read { $0 } }

    /// Opens the store, rebuilding the index, the current and compacted revisions and the
    /// consistent index from `backend`, and finishing a compaction a crash interrupted.
    public init(backend: Backend, options: Options = Options()) throws(MVCCError) {
        self.backend = backend
        self.options = options
        let loaded = try KVStore.load(backend)
        self.index = Guarded(loaded.state)
        self.leaseList = Guarded(loaded.leases)
        try finishCompaction(loaded.scheduled)
    }

    /// Revision of the last committed change (1 for a fresh store).
    public var currentRevision: Int64 { index.read { $0.currentRev } }
    /// Revision of the last compaction, -1 before any.
    public var compactedRevision: Int64 { index.read { $0.compactRev } }
    /// Keys in the index, tombstoned ones included until compacted (etcd's keys_total gauge).
    /// Keys that exist now (deleted ones, kept in the index until compacted, do not count).
    public var keyCount: Int { index.read { $0.liveKeys } }
    /// Raft index of the last applied entry, as stored with the data.
    public var consistentIndex: UInt64 { index.read { $0.consistentIndex } }

    /// Opens a read view at the current revision.
    public func read() throws(MVCCError) -> ReadView {
        // The snapshot begins under the index lock, so it holds the data of the index generation
        // read with it (`replaceContents` commits new data and swaps the index under the write
        // lock). It holds at least everything up to `rev`: the writer commits to LMDB before it
        // publishes a new current revision.
        let (rev, compacted, generation, tx) = try index.read { (st) throws(MVCCError) in
            (st.currentRev, st.compactRev, st.generation, try storage { try backend.read() })
        }
        return ReadView(store: self, tx: tx, rev: rev, compactRev: compacted, generation: generation)
    }

    /// Begins the write transaction. LMDB's write lock is owned by a thread: call `end()` on the
    /// same thread with no suspension point in between (or use `write(_:)`).
    public func write() throws(MVCCError) -> WriteTxn {
        let tx = try storage { try backend.beginWrite() }
        return WriteTxn(store: self, tx: tx, beginRev: index.read { max($0.currentRev, $0.lastWriteRev) })
    }

    /// Runs `body` in a write transaction and commits it; returns `body`'s result and the
    /// changes. If `body` throws, every change is rolled back.
    @discardableResult
    public func write<R>(_ body: (WriteTxn) throws(MVCCError) -> R) throws(MVCCError) -> (result: R, events: [Event]) {
        let txn = try write()
        do {
            let r = try body(txn)
            return (r, try txn.end())
        } catch {
            txn.rollback()
            throw error
        }
    }

    /// What `load` rebuilds from the backend.
    struct Loaded {
        var state: IndexState
        var leases: [(key: [UInt8], lease: Int64)]
        /// The scheduled compaction revision (0: none).
        var scheduled: Int64
    }

    /// Finishes a compaction that was scheduled but not finished (a crash, or a copy taken
    /// midway).
    func finishCompaction(_ scheduled: Int64) throws(MVCCError) {
        let (compacted, current) = index.read { ($0.compactRev, $0.currentRev) }
        if scheduled > 0 && scheduled > compacted && scheduled <= current {
            try compact(scheduled)
        }
    }

    /// Rebuilds the index, revisions and consistent index from the backend's data as `tx` sees it.
    /// `load(_:)` in a read transaction of its own.
    static func load(_ backend: Backend) throws(MVCCError) -> Loaded {
        let tx = try storage { try backend.read() }
        defer { tx.end() }
        return try load(tx)
    }

    static func load(_ tx: some BucketReading) throws(MVCCError) -> Loaded {
        var st = IndexState()
        var scheduled: Int64 = 0
        var leases: [[UInt8]: Int64] = [:]
        try storage {
            if let b = try tx.get(.meta, MetaKey.finishedCompact) {
                st.compactRev = b.withUnsafeBytes { Revision(keyBytes: $0)?.main } ?? -1
            }
            if let b = try tx.get(.meta, MetaKey.scheduledCompact) {
                scheduled = b.withUnsafeBytes { Revision(keyBytes: $0)?.main } ?? 0
            }
            if let b = try tx.get(.meta, MetaKey.consistentIndex), b.count == 8 {
                st.consistentIndex = b.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
            }
            try tx.forEach(.key) { k, v in
                guard let rev = Revision(keyBytes: k) else { throw MVCCError.corrupt("bad revision key") }
                let kv = try KeyValueCodec.decode(v, skipValue: true)
                let tomb = Revision.isTombstone(k)
                if let ki = st.tree.get(kv.key) {
                    if tomb { ki.tombstone(rev) } else { ki.put(rev) }
                } else if !tomb {
                    st.tree.getOrInsert(kv.key) { KeyIndex(key: kv.key) }
                        .restore(created: Revision(main: kv.createRevision), modified: rev, version: kv.version)
                }
                if tomb || kv.lease == 0 { leases[kv.key] = nil } else { leases[kv.key] = kv.lease }
                st.currentRev = rev.main
                return true
            }
        }
        var live = 0
        st.tree.ascend(from: []) { ki in
            if ki.isLive { live += 1 }
            return true
        }
        st.liveKeys = live
        st.currentRev = max(st.currentRev, st.compactRev, 1)
        st.lastWriteRev = st.currentRev
        return Loaded(state: st, leases: leases.map { (key: $0.key, lease: $0.value) }, scheduled: scheduled)
    }
}
