import Storage

/// Several write transactions, each with its own revision, in ONE LMDB transaction: the apply
/// loop applies a run of entries and pays for one commit (etcd batches its bbolt commits the same
/// way). Each `WriteTxn` of the batch is an LMDB child transaction, so it can still be rolled back
/// alone. Nothing is visible to readers until `commit()`: commit the batch before answering the
/// requests applied in it.
///
/// Belongs to the thread that began it (LMDB's write lock); one member transaction at a time;
/// no `compact` while a batch is open.
public final class WriteBatch {
    let store: KVStore
    private let tx: BatchTx
    /// Revision of the newest transaction folded in so far.
    private var lastRev: Int64
    private let firstRev: Int64
    private var consistentIndex: UInt64?
    private var undo: [IndexUndo] = []
    private var memberOpen = false
    private var ended = false

    init(store: KVStore, tx: BatchTx, beginRev: Int64) {
        self.store = store
        self.tx = tx
        self.lastRev = beginRev
        self.firstRev = beginRev
    }

    deinit { abort() }

    /// The revision readers will see after `commit()`.
    public var rev: Int64 { lastRev }

    /// Begins the next transaction of the batch; end or roll it back before the next.
    public func write() throws(MVCCError) -> WriteTxn {
        precondition(!ended, "WriteBatch used after commit() or abort()")
        precondition(!memberOpen, "WriteBatch: the previous WriteTxn is still open")
        let child = try storage { try tx.beginNested() }
        memberOpen = true
        return WriteTxn(store: store, tx: child, beginRev: lastRev, batch: self)
    }

    /// Runs `body` in the batch's next transaction and ends it; rolls it back alone if `body`
    /// throws.
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

    /// Runs `body` on a child transaction of the batch for writes outside MVCC's buckets (the
    /// lessor's `lease` bucket, `alarm`, `members`), so they commit atomically with the run of
    /// entries they belong to. A throwing body leaves nothing behind.
    public func update<R>(_ body: (BatchTx) throws -> R) throws -> R {
        precondition(!ended, "WriteBatch used after commit() or abort()")
        precondition(!memberOpen, "WriteBatch: a WriteTxn is still open")
        let child = try tx.beginNested()
        do {
            let result = try body(child)
            try child.commit()
            return result
        } catch {
            child.abort()
            throw error
        }
    }

    /// Called by a member transaction as it ends (`rev` nil: it changed nothing or rolled back).
    func finished(rev: Int64?, consistentIndex ci: UInt64?, undo ops: [IndexUndo]) {
        memberOpen = false
        if let rev { lastRev = rev }
        if let ci { consistentIndex = ci }
        undo.append(contentsOf: ops)
    }

    /// Commits every transaction of the batch at once and publishes the newest revision and
    /// consistent index. On failure nothing of the batch is kept.
    public func commit() throws(MVCCError) {
        precondition(!ended, "WriteBatch used after commit() or abort()")
        precondition(!memberOpen, "WriteBatch: a WriteTxn is still open")
        ended = true
        do {
            try tx.commit()
        } catch {
            tx.abort()
            dropIndexChanges()
            throw (error as? StorageError).map { MVCCError.storage($0) } ?? .corrupt("\(error)")
        }
        let rev = lastRev
        let ci = consistentIndex
        store.index.write { st in
            st.currentRev = rev
            if let ci { st.consistentIndex = ci }
        }
    }

    /// Drops the whole batch.
    public func abort() {
        guard !ended else { return }
        ended = true
        tx.abort()
        dropIndexChanges()
    }

    private func dropIndexChanges() {
        let ops = undo
        let first = firstRev
        undo = []
        store.index.write { $0.undo(ops, lastWriteRev: first) }
    }
}

extension KVStore {
    /// Begins a batch of write transactions sharing one LMDB commit (see `WriteBatch`).
    public func beginBatch() throws(MVCCError) -> WriteBatch {
        let tx = try storage { try backend.beginWrite() }
        return WriteBatch(store: self, tx: tx, beginRev: index.read { max($0.currentRev, $0.lastWriteRev) })
    }
}
