import CLMDB
import Glibc

/// How much an LMDB commit waits for the disk. The WAL is the durable record, so commits may be
/// unsynced; `Backend.sync()` flushes on demand (before a WAL release or a snapshot, say).
public enum CommitDurability: Sendable {
    /// MDB_NOSYNC: no flush at commit. A process crash loses nothing (the page cache keeps it);
    /// an OS crash may lose or damage the latest commits, which the WAL replays.
    case noSync
    /// MDB_NOMETASYNC: data is flushed at commit, the meta page lazily. An OS crash may undo the
    /// last commit but never damages the file.
    case noMetaSync
    /// Flush everything at every commit.
    case full
}

/// One LMDB environment holding every bucket: many concurrent readers, one writer at a time.
///
/// Sendable because the environment and database handles are fixed after `init` and LMDB
/// itself serializes writers (a write lock) and isolates readers (MVCC snapshots, MDB_NOTLS so a
/// read transaction may move between threads as Swift tasks do).
public final class Backend: @unchecked Sendable {
    /// etcd's default `--quota-backend-bytes` (2 GiB).
    public static let defaultQuotaBytes: Int = 2 * 1024 * 1024 * 1024

    public struct Options: Sendable {
        /// Size of the memory map, the hard ceiling of the file. Keep it above the quota that the
        /// server enforces so an admitted write never meets `StorageError.mapFull`.
        public var mapSize: Int
        public var durability: CommitDurability
        /// Concurrent read transactions allowed (LMDB reader slots).
        public var maxReaders: UInt32
        /// etcd's `--unsafe-no-fsync`: `sync()` does nothing.
        public var unsafeNoFsync = false

        /// Map size defaults to the quota plus a quarter of headroom.
        public init(quotaBytes: Int = Backend.defaultQuotaBytes, durability: CommitDurability = .noSync,
                    maxReaders: UInt32 = 4096) {
            self.mapSize = quotaBytes + quotaBytes / 4
            self.durability = durability
            self.maxReaders = maxReaders
        }
    }

    /// The data file (a lock file `<path>-lock` sits beside it).
    public let path: String
    let env: OpaquePointer
    let dbis: [MDB_dbi]
    let pageSize: Int
    private let unsafeNoFsync: Bool

    /// Opens or creates the environment at `path` (a file; its directory must exist) and every
    /// bucket.
    public init(path: String, options: Options = Options()) throws {
        self.path = path
        self.unsafeNoFsync = options.unsafeNoFsync
        var envp: OpaquePointer?
        try check(mdb_env_create(&envp), "mdb_env_create")
        guard let env = envp else { throw StorageError.lmdb(operation: "mdb_env_create", code: -1, message: "nil") }
        do {
            try check(mdb_env_set_maxdbs(env, MDB_dbi(Bucket.allCases.count + 2)), "mdb_env_set_maxdbs")
            try check(mdb_env_set_mapsize(env, options.mapSize), "mdb_env_set_mapsize")
            try check(mdb_env_set_maxreaders(env, options.maxReaders), "mdb_env_set_maxreaders")
            var flags = UInt32(MDB_NOSUBDIR) | UInt32(MDB_NOTLS) | UInt32(MDB_NORDAHEAD)
            switch options.durability {
            case .noSync: flags |= UInt32(MDB_NOSYNC)
            case .noMetaSync: flags |= UInt32(MDB_NOMETASYNC)
            case .full: break
            }
            try check(mdb_env_open(env, path, flags, 0o644), "mdb_env_open \(path)")
            var txn: OpaquePointer?
            try check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
            var handles: [MDB_dbi] = []
            for bucket in Bucket.allCases {
                var dbi = MDB_dbi(0)
                let rc = mdb_dbi_open(txn, bucket.name, UInt32(MDB_CREATE), &dbi)
                if rc != 0 { mdb_txn_abort(txn); try check(rc, "mdb_dbi_open \(bucket.name)") }
                handles.append(dbi)
            }
            try check(mdb_txn_commit(txn), "mdb_txn_commit")
            var st = MDB_stat()
            try check(mdb_env_stat(env, &st), "mdb_env_stat")
            self.pageSize = Int(st.ms_psize)
            self.dbis = handles
            self.env = env
        } catch {
            mdb_env_close(env)
            throw error
        }
    }

    deinit { mdb_env_close(env) }

    /// Starts a read transaction: a consistent snapshot that never blocks the writer. End it
    /// promptly (`end()` or release it): an open reader pins old pages.
    public func read() throws -> ReadTx {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin(read)")
        return ReadTx(backend: self, txn: txn!)
    }

    /// Starts the write transaction, waiting for any other writer to finish.
    ///
    /// LMDB's write lock belongs to the thread that took it: commit or abort on the SAME thread,
    /// with no suspension point in between (`update(_:)` guarantees this; `BatchTx` checks it).
    public func beginWrite() throws -> BatchTx {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin(write)")
        return BatchTx(backend: self, txn: txn!)
    }

    /// Runs `body` in a write transaction and commits it; aborts if `body` throws.
    public func update<R>(_ body: (BatchTx) throws -> R) throws -> R {
        let tx = try beginWrite()
        do {
            let r = try body(tx)
            try tx.commit()
            return r
        } catch {
            tx.abort()
            throw error
        }
    }

    /// Flushes every committed transaction to disk (fdatasync).
    public func sync() throws {
        if unsafeNoFsync { return }
        try check(mdb_env_sync(env, 1), "mdb_env_sync")
    }

    /// Bytes of the data file on disk (etcd's dbSize).
    public var size: Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { return 0 }
        return Int64(st.st_size)
    }

    /// Bytes up to the last page LMDB has written (the file's length without a syscall: LMDB
    /// grows the file only by writing pages past this mark).
    public var highWaterBytes: Int64 {
        var info = MDB_envinfo()
        guard mdb_env_info(env, &info) == 0 else { return size }
        return Int64(info.me_last_pgno + 1) * Int64(pageSize)
    }

    /// Bytes of pages in use: the file's high-water mark less the pages on LMDB's free list
    /// (etcd's dbSizeInUse).
    public var sizeInUse: Int64 {
        var info = MDB_envinfo()
        guard mdb_env_info(env, &info) == 0 else { return size }
        let used = Int64(info.me_last_pgno + 1)
        var free: Int64 = 0
        var txn: OpaquePointer?
        if mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn) == 0 {
            var cursor: OpaquePointer?
            // Database 0 is LMDB's free list: each value is a page list whose first word is its
            // length.
            if mdb_cursor_open(txn, 0, &cursor) == 0 {
                var k = MDB_val(), v = MDB_val()
                var rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
                while rc == 0 {
                    if v.mv_size >= MemoryLayout<Int>.size, let p = v.mv_data {
                        free += Int64(p.loadUnaligned(as: Int.self))
                    }
                    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
                }
                mdb_cursor_close(cursor)
            }
            mdb_txn_abort(txn)
        }
        return max(0, used - free) * Int64(pageSize)
    }

    /// Grows (or shrinks) the map. Only while no transaction of this process is open (LMDB does
    /// not check this itself), e.g. at start-up or with the server paused.
    public func setMapSize(_ bytes: Int) throws {
        try check(mdb_env_set_mapsize(env, bytes), "mdb_env_set_mapsize")
    }

    @inline(__always) func dbi(_ bucket: Bucket) -> MDB_dbi { dbis[bucket.rawValue] }
}

@inline(__always) func check(_ rc: Int32, _ op: @autoclosure () -> String) throws {
    guard rc != 0 else { return }
    if rc == MDB_MAP_FULL { throw StorageError.mapFull }
    throw StorageError.lmdb(operation: op(), code: rc, message: String(cString: mdb_strerror(rc)))
}

func errnoString(_ e: Int32) -> String { String(cString: strerror(e)) }
