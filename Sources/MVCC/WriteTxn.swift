import Storage

/// The single write transaction (etcd's TxnWrite). Every change shares main revision
/// `beginRev + 1`, with sub revisions 0, 1, 2... in order; reads inside see the transaction's
/// own changes. `end()` commits atomically (data and consistent index in one LMDB transaction)
/// and only then publishes the new revision to readers. A transaction that changes nothing does
/// not bump the revision.
///
/// Inside a `WriteBatch` the same holds, except that `end()` only folds the transaction into the
/// batch: readers see it when the batch commits.
///
/// Not Sendable: it belongs to the thread that began it.
public final class WriteTxn {
    let store: KVStore
    let tx: BatchTx
    /// The batch this transaction belongs to, if any.
    private let batch: WriteBatch?
    /// The current revision when the transaction began.
    public let beginRev: Int64
    private var changes: [Event] = []
    private var newConsistentIndex: UInt64?
    private var failure: MVCCError?
    /// Index changes made so far, newest last, so a rollback can take them back exactly.
    private var undo: [IndexUndo] = []
    private var ended = false
    private var counts = OpCounts()

    init(store: KVStore, tx: BatchTx, beginRev: Int64, batch: WriteBatch? = nil) {
        self.store = store
        self.tx = tx
        self.beginRev = beginRev
        self.batch = batch
    }

    deinit { if !ended { rollback() } }

    /// The revision the transaction's reads and response header see: `beginRev + 1` once it has
    /// changed something, else `beginRev`.
    public var rev: Int64 { changes.isEmpty ? beginRev : beginRev + 1 }

    /// Reads `[key, end)` as `ReadView.range` does, including this transaction's own changes.
    public func range(_ key: [UInt8], _ end: [UInt8] = [], options: RangeOptions = RangeOptions())
        throws(MVCCError) -> RangeResult {
        try live()
        counts.ranges += 1
        return try store.rangeKeys(tx, key, end, curRev: rev, options)
    }

    /// Puts `value` at `key` with `lease` (0 = none). Returns the key's previous state when
    /// `prevKV` is true and the key existed (callers implementing ignore_value / ignore_lease
    /// ask for it and pass the old value or lease back in).
    @discardableResult
    public func put(_ key: [UInt8], _ value: [UInt8], lease: Int64 = 0, prevKV: Bool = false)
        throws(MVCCError) -> KeyValue? {
        try live()
        counts.puts += 1
        let main = beginRev + 1
        let idxRev = Revision(main: main, sub: Int64(changes.count))
        // One index lookup: read the key's state, then record the put. From here on any failure
        // leaves the index ahead of the backend, so it poisons the transaction.
        let (prior, created) = store.index.write { st in
            var created = false
            let ki = st.tree.getOrInsert(key) { created = true; return KeyIndex(key: key) }
            let wasLive = ki.isLive
            let p = ki.get(atRev: main)
            ki.put(idxRev)
            if !wasLive { st.liveKeys += 1 }
            return (p, created)
        }
        undo.append(IndexUndo(key: key, tombstone: false, created: created))
        let kv = KeyValue(key: key, createRevision: prior?.created.main ?? main, modRevision: main,
                          version: (prior?.version ?? 0) + 1, value: value, lease: lease)
        var prev: KeyValue?
        try guarded { () throws(MVCCError) in
            if prevKV, let p = prior { prev = try store.fetch(tx, p.modified) }
            try storage { try tx.seqPut(.key, idxRev.keyBytes(), KeyValueCodec.encode(kv)) }
        }
        changes.append(Event(kind: .put, kv: kv, prevKV: prev))
        return prev
    }

    /// Deletes every key in `[key, end)` (same `end` rules as `range`). Returns how many were
    /// deleted and, when `prevKV` is true, their previous states.
    @discardableResult
    public func deleteRange(_ key: [UInt8], _ end: [UInt8] = [], prevKV: Bool = false)
        throws(MVCCError) -> (deleted: Int64, prevKVs: [KeyValue]) {
        try live()
        counts.deletes += 1
        let atRev = rev
        let found: [(key: [UInt8], rev: Revision)] = store.index.read { st in
            var out: [(key: [UInt8], rev: Revision)] = []
            st.visit(key, end, atRev: atRev) { ki, r in
                out.append((ki.key, r))
                return true
            }
            return out
        }
        var prevs: [KeyValue] = []
        let main = beginRev + 1
        for (k, r) in found {
            var prev: KeyValue?
            if prevKV {
                prev = try guarded { () throws(MVCCError) in try store.fetch(tx, r) }
                if let p = prev { prevs.append(p) }
            }
            let idxRev = Revision(main: main, sub: Int64(changes.count))
            try guarded { () throws(MVCCError) in
                try storage { try tx.seqPut(.key, idxRev.keyBytes(tombstone: true), KeyValueCodec.encode(KeyValue(key: k))) }
            }
            if store.index.write({ $0.tombstone(k, idxRev) }) { undo.append(IndexUndo(key: k, tombstone: true, created: false)) }
            changes.append(Event(kind: .delete, kv: KeyValue(key: k, modRevision: main), prevKV: prev))
        }
        return (Int64(found.count), prevs)
    }

    /// Stores the raft index of the entry being applied in this same transaction.
    public func setConsistentIndex(_ index: UInt64) { newConsistentIndex = index }

    /// Commits and returns the changes in order. On failure (e.g. `.storage(.mapFull)`) nothing is
    /// kept: the backend and the index are as before the transaction. In a batch, the changes
    /// become visible when the batch commits.
    @discardableResult
    public func end() throws(MVCCError) -> [Event] {
        precondition(!ended, "WriteTxn used after end() or rollback()")
        counts.flush()
        if let failure {
            rollback()
            throw failure
        }
        ended = true
        if changes.isEmpty && newConsistentIndex == nil {
            tx.abort()
            batch?.finished(rev: nil, consistentIndex: nil, undo: [])
            return []
        }
        let bump = !changes.isEmpty
        if bump { store.index.write { $0.lastWriteRev = beginRev + 1 } }
        do {
            if let ci = newConsistentIndex { try tx.put(.meta, MetaKey.consistentIndex, bigEndian8(ci)) }
            try tx.commit()
        } catch {
            tx.abort()
            undoIndex()
            throw (error as? StorageError).map { MVCCError.storage($0) } ?? .corrupt("\(error)")
        }
        let ci = newConsistentIndex
        if let batch {
            batch.finished(rev: bump ? beginRev + 1 : nil, consistentIndex: ci, undo: undo)
            return changes
        }
        store.index.write { st in
            if bump { st.currentRev = self.beginRev + 1 }
            if let ci { st.consistentIndex = ci }
        }
        return changes
    }

    /// Drops every change made so far, in the backend and the index (in a batch: only this
    /// transaction's).
    public func rollback() {
        guard !ended else { return }
        ended = true
        counts.flush()
        tx.abort()
        undoIndex()
    }

    /// Reverts this transaction's index changes and forgets its revision.
    private func undoIndex() {
        let ops = undo
        undo = []
        let begin = beginRev
        store.index.write { $0.undo(ops, lastWriteRev: begin) }
        batch?.finished(rev: nil, consistentIndex: nil, undo: [])
    }

    private func live() throws(MVCCError) {
        precondition(!ended, "WriteTxn used after end() or rollback()")
        if let failure { throw failure }
    }

    /// Runs a step after which a failure would leave the index and the backend apart: any error
    /// poisons the transaction (only rollback is left; `end()` rolls back and rethrows).
    private func guarded<R>(_ body: () throws(MVCCError) -> R) throws(MVCCError) -> R {
        do { return try body() } catch {
            failure = error
            throw error
        }
    }
}
