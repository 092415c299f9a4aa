import CLMDB
import Glibc

/// Whole-backend snapshots between members (etcd sends a follower far behind the leader's bbolt
/// file): `copy(to:)` on the sender, `replaceContents(withCopyAt:)` on the receiver.
extension Backend {
    /// Bytes of the memory map: the most the data file can grow to.
    public var mapSize: Int {
        var info = MDB_envinfo()
        guard mdb_env_info(env, &info) == 0 else { return 0 }
        return info.me_mapsize
    }

    /// Writes a consistent, compacted copy of the whole environment (every bucket) to the single
    /// file `path`, in the layout `Backend(path:)` opens (no lock file; `Backend` creates its own
    /// when it opens it).
    ///
    /// The copy is one LMDB read snapshot (`mdb_env_copyfd2` with `MDB_CP_COMPACT`: free pages
    /// are left out and pages renumbered), so it holds exactly the last transaction committed
    /// before the call and nothing of a batch still open. Its `meta` bucket therefore holds the
    /// `consistent_index` (the raft index of the last entry applied) that the copied data
    /// corresponds to; it also holds this member's own `meta` marks (e.g. the server's WAL
    /// snapshot mark), which a receiver should overwrite.
    ///
    /// Safe from any thread while the writer keeps writing: it never takes the write lock. It pins
    /// one reader slot and the snapshot's pages for its duration, so the live file may grow while
    /// a large copy runs.
    ///
    /// The bytes go to `<path>.tmp`, are fsynced, then renamed over `path` (replacing a file
    /// there) and the directory is fsynced: `path` never holds a partial copy.
    public func copy(to path: String) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.io(operation: "create", path: tmp, errno: errno) }
        var fdOpen = true
        var done = false
        defer {
            if fdOpen { close(fd) }
            if !done { unlink(tmp) }
        }
        try check(mdb_env_copyfd2(env, fd, UInt32(MDB_CP_COMPACT)), "mdb_env_copyfd2 \(tmp)")
        guard fsync(fd) == 0 else { throw StorageError.io(operation: "fsync", path: tmp, errno: errno) }
        fdOpen = false
        guard close(fd) == 0 else { throw StorageError.io(operation: "close", path: tmp, errno: errno) }
        guard rename(tmp, path) == 0 else { throw StorageError.io(operation: "rename", path: tmp, errno: errno) }
        done = true
        try syncDirectory(of: path)
    }

    /// Makes this backend hold exactly the data of the backend copy at `path` (a file written by
    /// `copy(to:)`, possibly on another member), then syncs it to disk.
    ///
    /// The file is validated first: it must open as an LMDB environment, be as long as its pages
    /// say (a truncated transfer is refused) and hold every bucket of `Bucket.allCases` as a
    /// plain named database. Otherwise `StorageError.invalidCopy` is thrown and nothing changes.
    /// LMDB has no checksums: the integrity of the bytes themselves is the transport's job (etcd
    /// sends a SHA-256 with the file).
    ///
    /// Then, in ONE write transaction, every bucket is emptied and refilled with the copy's keys
    /// and values, and committed: readers see the old data or the new, never a mix, and read
    /// transactions begun earlier keep their snapshot. Buckets of this backend's own (e.g. the
    /// server's WAL snapshot mark in `meta`) are replaced too, so the caller rewrites its own marks
    /// afterwards. The in-memory state built on the backend (`KVStore`, `Lessor`, ...) must be
    /// reloaded afterwards; `KVStore.replaceContents(withCopyAt:growMap:)` does both at once.
    ///
    /// Space: until the commit the old pages stay in use, so the map must hold the old data and
    /// the new at once (roughly `sizeInUse` + the copy's size). If it does not, LMDB refuses the
    /// transaction: `StorageError.mapFull` is thrown and nothing changes. With `growMap` the map is
    /// first grown (`setMapSize`) to that estimate when it is smaller; `setMapSize` is only safe
    /// while no other transaction of this process is open (a read transaction would be left
    /// pointing into the old mapping), so pass `true` only when nothing else reads or writes, e.g.
    /// at start-up. The server's map (twice the quota plus 64 MiB) holds any copy within the quota
    /// on top of data within the quota without growing.
    ///
    /// Call from the writer's thread (it takes the write lock, waiting for a writer in progress);
    /// never with a `BatchTx` of this thread open.
    public func replaceContents(withCopyAt path: String, growMap: Bool = false) throws {
        let tx = try beginReplacingContents(withCopyAt: path, growMap: growMap)
        try tx.commit()
        try sync()
    }

    /// `replaceContents(withCopyAt:growMap:)` without the commit: validates the copy, empties and
    /// refills every bucket in a new write transaction and returns it open. The caller may read
    /// the new data through it, then commits it (and `sync()`s) or aborts it, on this thread, as
    /// for any `BatchTx`. This lets the caller swap its in-memory state at the very moment of the
    /// commit.
    public func beginReplacingContents(withCopyAt path: String, growMap: Bool = false) throws -> BatchTx {
        let source = try CopySource(path: path)
        defer { source.close() }
        if growMap {
            var info = MDB_envinfo()
            try check(mdb_env_info(env, &info), "mdb_env_info")
            let inUse = (Int(info.me_last_pgno) + 1) * pageSize
            let need = roundUp(inUse + source.usedBytes + source.usedBytes / 8 + (8 << 20), to: 1 << 20)
            if need > mapSize { try setMapSize(need) }
        }
        let tx = try beginWrite()
        do {
            try source.copyAll(into: tx.live, dbis: dbis)
        } catch {
            tx.abort()
            throw error
        }
        return tx
    }

    /// Checks, without installing it, that the file at `path` passes the validation of
    /// `replaceContents(withCopyAt:)` (an LMDB environment, as long as its pages say, with every
    /// bucket as a plain named database); throws `StorageError.invalidCopy` saying why not. Opens
    /// it read-only for the check, with no lock file; any thread.
    public static func validateCopy(at path: String) throws {
        try CopySource(path: path).close()
    }

    /// `validateCopy(at:)` as a yes or no.
    public static func isValidCopy(at path: String) -> Bool {
        (try? validateCopy(at: path)) != nil
    }

    private func syncDirectory(of path: String) throws {
        let dir: String
        if let slash = path.lastIndex(of: "/") {
            dir = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            dir = "."
        }
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: dir, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StorageError.io(operation: "fsync", path: dir, errno: errno) }
    }
}

@inline(__always) private func roundUp(_ n: Int, to unit: Int) -> Int { (n + unit - 1) / unit * unit }

/// A backend copy opened read-only (a second LMDB environment, no lock file) and validated, with
/// one read transaction over it. `close()` ends both.
private struct CopySource {
    let env: OpaquePointer
    let txn: OpaquePointer
    let dbis: [MDB_dbi]
    /// Bytes of the pages the copy uses.
    let usedBytes: Int

    init(path: String) throws {
        func invalid(_ reason: String) -> StorageError { .invalidCopy(path: path, reason: reason) }
        func lmdbMessage(_ rc: Int32) -> String { "\(String(cString: mdb_strerror(rc))) (\(rc))" }

        var st = stat()
        guard stat(path, &st) == 0 else { throw invalid("cannot stat it: \(errnoString(errno))") }
        guard st.st_mode & S_IFMT == S_IFREG else { throw invalid("not a regular file") }
        guard st.st_size > 0 else { throw invalid("the file is empty") }

        var envp: OpaquePointer?
        try check(mdb_env_create(&envp), "mdb_env_create")
        guard let env = envp else { throw StorageError.lmdb(operation: "mdb_env_create", code: -1, message: "nil") }
        var txnp: OpaquePointer?
        do {
            try check(mdb_env_set_maxdbs(env, MDB_dbi(Bucket.allCases.count + 2)), "mdb_env_set_maxdbs")
            // Map only the file (LMDB raises this to what the meta page claims; the length check
            // below refuses a file shorter than that before any data page is touched).
            try check(mdb_env_set_mapsize(env, Int(st.st_size)), "mdb_env_set_mapsize")
            let flags = UInt32(MDB_NOSUBDIR) | UInt32(MDB_RDONLY) | UInt32(MDB_NOLOCK) | UInt32(MDB_NOTLS)
                | UInt32(MDB_NORDAHEAD)
            let rc = mdb_env_open(env, path, flags, 0o644)
            if rc != 0 { throw invalid("it does not open as an LMDB environment: \(lmdbMessage(rc))") }

            var info = MDB_envinfo()
            try check(mdb_env_info(env, &info), "mdb_env_info")
            var es = MDB_stat()
            try check(mdb_env_stat(env, &es), "mdb_env_stat")
            let (used, overflow) = (Int(info.me_last_pgno) + 1).multipliedReportingOverflow(by: Int(es.ms_psize))
            guard !overflow, used <= Int(st.st_size) else {
                throw invalid("truncated: \(st.st_size) bytes, its pages need \(overflow ? "more" : "\(used)")")
            }

            let rrc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txnp)
            if rrc != 0 { throw invalid("cannot read it: \(lmdbMessage(rrc))") }
            var handles: [MDB_dbi] = []
            for bucket in Bucket.allCases {
                var dbi = MDB_dbi(0)
                let orc = mdb_dbi_open(txnp, bucket.name, 0, &dbi)
                if orc == MDB_NOTFOUND { throw invalid("it has no \(bucket.name) bucket") }
                if orc != 0 { throw invalid("cannot open its \(bucket.name) bucket: \(lmdbMessage(orc))") }
                var dbFlags: UInt32 = 0
                try check(mdb_dbi_flags(txnp, dbi, &dbFlags), "mdb_dbi_flags \(bucket.name)")
                if dbFlags != 0 { throw invalid("its \(bucket.name) bucket has flags \(dbFlags), not a plain database") }
                handles.append(dbi)
            }
            self.env = env
            self.txn = txnp!
            self.dbis = handles
            self.usedBytes = used
        } catch {
            if let t = txnp { mdb_txn_abort(t) }
            mdb_env_close(env)
            throw error
        }
    }

    func close() {
        mdb_txn_abort(txn)
        mdb_env_close(env)
    }

    /// Empties every bucket of the destination (`mdb_drop`) and copies this copy's records into
    /// it in key order (`MDB_APPEND`: the destination bucket is empty and both sides use LMDB's
    /// byte order, so every record appends and pages come out full).
    func copyAll(into dst: OpaquePointer, dbis dstDbis: [MDB_dbi]) throws {
        for (i, bucket) in Bucket.allCases.enumerated() {
            try check(mdb_drop(dst, dstDbis[i], 0), "mdb_drop \(bucket.name)")
            var cursor: OpaquePointer?
            try check(mdb_cursor_open(txn, dbis[i], &cursor), "mdb_cursor_open (copy) \(bucket.name)")
            defer { mdb_cursor_close(cursor) }
            var k = MDB_val(), v = MDB_val()
            var rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
            while rc == 0 {
                try check(mdb_put(dst, dstDbis[i], &k, &v, UInt32(MDB_APPEND)), "mdb_put \(bucket.name)")
                rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
            }
            if rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get (copy) \(bucket.name)") }
        }
    }
}
