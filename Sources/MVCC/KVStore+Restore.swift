import Storage

/// Installing a backend copy from another member (a raft snapshot): the backend's data is
/// replaced wholesale and the in-memory index is rebuilt from it.
///
/// Both calls below are writer-side: call them from the writer's thread (the server's applier)
/// with no `WriteTxn` or `WriteBatch` open and no compaction running. Read views may be open on
/// any thread: a view opened before keeps reading the old data with the old index (its LMDB
/// snapshot and the retired index generation match); views opened after see the new data.
/// Afterwards reload what else lives on the same backend (`Lessor.reload()`, then re-attach the
/// returned leases) and call `WatchableStore.restore()`.
extension KVStore {
    /// Replaces the backend's data with the copy at `path` (see
    /// `Backend.replaceContents(withCopyAt:growMap:)`: validation, space, `growMap`) and rebuilds
    /// the index, the current and compacted revisions and the consistent index from it, finishing
    /// a compaction the copy had scheduled but not finished. Returns the (key, lease) pairs of
    /// the new data for the lessor to re-attach (also `restoredLeases` from now on).
    ///
    /// Atomic for readers: the new index is built from the still uncommitted write transaction,
    /// then the LMDB commit and the index swap happen together under the index write lock, so no
    /// view ever pairs the new data with the old index or the reverse. Readers opening views wait
    /// for that commit (which writes out the new data's pages, though not syncing them); the sync
    /// follows outside the lock. On any error before the commit nothing changed.
    @discardableResult
    public func replaceContents(withCopyAt path: String, growMap: Bool = false)
        throws(MVCCError) -> [(key: [UInt8], lease: Int64)] {
        let tx = try storage { try backend.beginReplacingContents(withCopyAt: path, growMap: growMap) }
        let loaded: Loaded
        do {
            loaded = try KVStore.load(tx)
            try index.write { (st) throws(MVCCError) in
                try storage { try tx.commit() }
                KVStore.install(loaded.state, in: &st)
            }
        } catch {
            tx.abort()
            throw error
        }
        leaseList.write { $0 = loaded.leases }
        try storage { try backend.sync() }
        try finishCompaction(loaded.scheduled)
        return loaded.leases
    }

    /// Rebuilds everything `init` loads (key index, current and compacted revisions, consistent
    /// index, and finishes a scheduled compaction) from the backend as it is now, after
    /// `Backend.replaceContents(withCopyAt:)` changed it underneath. Returns the (key, lease)
    /// pairs of the new data for the lessor to re-attach (also `restoredLeases` from now on).
    ///
    /// The new index replaces the old one at once (views opened earlier keep theirs, see above).
    /// Between the backend's commit and this call, though, a view opened meanwhile pairs the new
    /// data with the old index (a range may then fail with `.corrupt` or miss keys): when readers
    /// are live, prefer `replaceContents(withCopyAt:growMap:)`, which has no such window.
    @discardableResult
    public func reload() throws(MVCCError) -> [(key: [UInt8], lease: Int64)] {
        let loaded = try KVStore.load(backend)
        index.write { KVStore.install(loaded.state, in: &$0) }
        leaseList.write { $0 = loaded.leases }
        try finishCompaction(loaded.scheduled)
        return loaded.leases
    }

    /// Retires the current index generation (it keeps its tree for the views still on it) and
    /// makes `new` current.
    private static func install(_ new: IndexState, in st: inout IndexState) {
        st.generation.retired = (st.tree, st.compactRev)
        st = new
    }
}
