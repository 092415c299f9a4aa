import CLMDB
import EtcdMetrics
import Glibc

/// Reads shared by `ReadTx` and `BatchTx`. Buffers handed to closures point into the LMDB map and
/// are valid only during the call.
public protocol BucketReading {
    /// A copy of the value at `key`, or nil.
    func get(_ bucket: Bucket, _ key: [UInt8]) throws -> [UInt8]?
    /// Calls `body` with the value at `key` in place (no copy); nil when absent.
    func withValue<R>(_ bucket: Bucket, key: UnsafeRawBufferPointer,
                      _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R?
    /// Visits keys in `[from, to)` in byte order (nil `from` = first key, nil `to` = no bound)
    /// until `body` returns false.
    func forEach(_ bucket: Bucket, from: [UInt8]?, to: [UInt8]?,
                 _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool) throws
}

extension BucketReading {
    /// Visits every key of `bucket`.
    public func forEach(_ bucket: Bucket,
                        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        try forEach(bucket, from: nil, to: nil, body)
    }
}

/// A read-only snapshot. Not for concurrent use by two threads at once; it may move between
/// threads (MDB_NOTLS). Ends at `end()` or when released.
public final class ReadTx: BucketReading {
    let backend: Backend
    private var txn: OpaquePointer?

    init(backend: Backend, txn: OpaquePointer) {
        self.backend = backend
        self.txn = txn
    }

    deinit { end() }

    /// Releases the snapshot; further reads are a programming error.
    public func end() {
        if let t = txn { mdb_txn_abort(t); txn = nil }
    }

    public func get(_ bucket: Bucket, _ key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { k in try withValue(bucket, key: k) { [UInt8]($0) } }
    }

    public func withValue<R>(_ bucket: Bucket, key: UnsafeRawBufferPointer,
                             _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        precondition(txn != nil, "ReadTx used after end()")
        return try lmdbGet(txn!, backend.dbi(bucket), key, body)
    }

    public func forEach(_ bucket: Bucket, from: [UInt8]?, to: [UInt8]?,
                        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        precondition(txn != nil, "ReadTx used after end()")
        try lmdbScan(txn!, backend.dbi(bucket), from, to, body)
    }
}

/// The single write transaction. Begun and finished on one thread (LMDB's write lock is owned by
/// a thread); `commit()` makes its changes visible to new readers, atomically.
public final class BatchTx: BucketReading {
    let backend: Backend
    private var txn: OpaquePointer?
    private let thread = pthread_self()
    /// A child transaction's commit only folds into its parent: not a backend commit to time.
    private var nested = false

    init(backend: Backend, txn: OpaquePointer) {
        self.backend = backend
        self.txn = txn
    }

    deinit { abort() }

    var live: OpaquePointer {
        guard let t = txn else { preconditionFailure("BatchTx used after commit or abort") }
        return t
    }

    public func get(_ bucket: Bucket, _ key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { k in try withValue(bucket, key: k) { [UInt8]($0) } }
    }

    public func withValue<R>(_ bucket: Bucket, key: UnsafeRawBufferPointer,
                             _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try lmdbGet(live, backend.dbi(bucket), key, body)
    }

    public func forEach(_ bucket: Bucket, from: [UInt8]?, to: [UInt8]?,
                        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        try lmdbScan(live, backend.dbi(bucket), from, to, body)
    }

    /// Begins a transaction nested in this one (LMDB child transaction): it sees this one's
    /// changes; its `commit()` folds its own into this one, its `abort()` drops only its own.
    /// This transaction must not be used until the child ends. Same thread rule as the parent.
    public func beginNested() throws -> BatchTx {
        var child: OpaquePointer?
        try check(mdb_txn_begin(backend.env, live, 0, &child), "mdb_txn_begin(nested)")
        let tx = BatchTx(backend: backend, txn: child!)
        tx.nested = true
        return tx
    }

    /// Stores `value` at `key`, replacing any old value.
    public func put(_ bucket: Bucket, _ key: [UInt8], _ value: [UInt8]) throws {
        try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try put(bucket, key: k, value: v) } }
    }

    /// Stores `value` at `key`, replacing any old value.
    public func put(_ bucket: Bucket, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        try rawPut(bucket, key, value, flags: 0)
    }

    /// Like `put`, for keys that usually sort after every key in the bucket (revisions): appends
    /// without a tree search, falling back to a plain put otherwise.
    public func seqPut(_ bucket: Bucket, _ key: [UInt8], _ value: [UInt8]) throws {
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in
                do {
                    try rawPut(bucket, k, v, flags: UInt32(MDB_APPEND))
                } catch StorageError.lmdb(_, MDB_KEYEXIST, _) {
                    try rawPut(bucket, k, v, flags: 0)
                }
            }
        }
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func delete(_ bucket: Bucket, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            let rc = mdb_del(live, backend.dbi(bucket), &kv, nil)
            if rc == MDB_NOTFOUND { return false }
            try check(rc, "mdb_del \(bucket.name)")
            return true
        }
    }

    /// Commits. On failure (e.g. `StorageError.mapFull`) nothing was written.
    public func commit() throws {
        let t = live
        precondition(pthread_equal(thread, pthread_self()) != 0, "BatchTx committed on another thread")
        txn = nil
        if nested { return try check(mdb_txn_commit(t), "mdb_txn_commit") }
        let start = Meters.now()
        try check(mdb_txn_commit(t), "mdb_txn_commit")
        Meters.backendCommit.record(Meters.seconds(since: start))
    }

    /// Drops every change; harmless after commit.
    public func abort() {
        guard let t = txn else { return }
        precondition(pthread_equal(thread, pthread_self()) != 0, "BatchTx aborted on another thread")
        txn = nil
        mdb_txn_abort(t)
    }

    private func rawPut(_ bucket: Bucket, _ k: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer,
                        flags: UInt32) throws {
        var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
        var vv = MDB_val(mv_size: v.count, mv_data: UnsafeMutableRawPointer(mutating: v.baseAddress))
        try check(mdb_put(live, backend.dbi(bucket), &kv, &vv, flags), "mdb_put \(bucket.name)")
    }
}

private func lmdbGet<R>(_ txn: OpaquePointer, _ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer,
                        _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
    var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
    var v = MDB_val()
    let rc = mdb_get(txn, dbi, &k, &v)
    if rc == MDB_NOTFOUND { return nil }
    try check(rc, "mdb_get")
    return try body(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
}

private func lmdbScan(_ txn: OpaquePointer, _ dbi: MDB_dbi, _ from: [UInt8]?, _ to: [UInt8]?,
                      _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
    var cursor: OpaquePointer?
    try check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open")
    defer { mdb_cursor_close(cursor) }
    var k = MDB_val(), v = MDB_val()
    var rc: Int32
    if let from {
        rc = from.withUnsafeBytes { f in
            k = MDB_val(mv_size: f.count, mv_data: UnsafeMutableRawPointer(mutating: f.baseAddress))
            return mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
        }
    } else {
        rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
    }
    while rc == 0 {
        let key = UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size)
        if let to, compareBytes(key, to) >= 0 { return }
        guard try body(key, UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)) else { return }
        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
    }
    if rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get") }
}

/// Byte-wise comparison as LMDB's default key order: negative, zero or positive.
@inline(__always)
func compareBytes(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Int {
    b.withUnsafeBytes { bb in
        let n = min(a.count, bb.count)
        if n > 0 {
            let c = memcmp(a.baseAddress!, bb.baseAddress!, n)
            if c != 0 { return Int(c) }
        }
        return a.count - bb.count
    }
}
