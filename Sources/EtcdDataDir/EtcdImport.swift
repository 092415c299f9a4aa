import Bbolt
import EtcdProto
import Glibc
import Storage

/// Where etcd-swift keeps a member's state, and how a data dir that etcd 3.4 wrote becomes one.
///
/// A new etcd-swift member uses `<data-dir>/member/{wal,snap/db}`, etcd's own paths. A data dir
/// etcd wrote keeps etcd's files there untouched (so etcd can start on it again: it finds its
/// files as it left them) and etcd-swift's converted state goes beside them, under
/// `<data-dir>/member/etcd-swift/{wal,snap/db}`; that directory's presence selects it.
public enum MemberLayout {
    /// The name of the directory an import makes inside `<data-dir>/member`.
    public static let importedName = "etcd-swift"

    /// The directory holding etcd-swift's `wal/` and `snap/` for `dataDir`.
    public static func memberDir(dataDir: String) -> String {
        let imported = dataDir + "/member/" + importedName
        return Files.exists(imported) ? imported : dataDir + "/member"
    }

    /// etcd-swift's own `meta` key (etcd keeps this in its `.snap` files): the WAL snapshot mark a
    /// restart opens the WAL at, as 8-byte big-endian index then term.
    public static let walSnapshotKey = Array("etcd-swift-wal-snapshot".utf8)

    public static func encode(mark: EtcdSnapshotMark) -> [UInt8] {
        withUnsafeBytes(of: mark.index.bigEndian) { Array($0) } + withUnsafeBytes(of: mark.term.bigEndian) { Array($0) }
    }
}

/// Converts etcd 3.4's member state into etcd-swift's before the member starts.
public enum EtcdImport {
    /// What an import took over.
    public struct Summary: Sendable, CustomStringConvertible {
        public var snapshot: EtcdSnapshotMark
        public var snapFile: String?
        public var entries: Int
        public var hardState: (term: UInt64, vote: UInt64, commit: UInt64)
        public var nodeID: UInt64
        public var clusterID: UInt64
        public var buckets: [(name: String, keys: Int)]
        /// Members taken from the `.snap`'s v2 store (the db had none: a restored snapshot).
        public var membersFromSnap: Int
        public var consistentIndex: UInt64
        public var tornTail: Bool

        public var description: String {
            "snapshot \(snapshot) (\(snapFile ?? "no .snap file")), \(entries) WAL entries after it, "
                + "hard state term \(hardState.term) commit \(hardState.commit), member \(hex(nodeID)) cluster \(hex(clusterID)), "
                + "backend consistent index \(consistentIndex), buckets "
                + buckets.map { "\($0.name)=\($0.keys)" }.joined(separator: " ")
                + (membersFromSnap > 0 ? ", \(membersFromSnap) members from the .snap's v2 store" : "")
                + (tornTail ? "; a torn WAL tail was left out" : "")
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case unknownBucket(String)
        case backend(String)

        public var description: String {
            switch self {
            case let .unknownBucket(b): "etcd data dir: etcd's db has bucket \(b), which etcd-swift does not keep"
            case let .backend(why): "etcd data dir: \(why)"
            }
        }
    }

    /// Whether `dataDir` holds etcd's layout (an etcd WAL in `member/wal`, a bbolt `member/snap/db`)
    /// and no etcd-swift state yet.
    public static func needed(dataDir: String) -> Bool {
        let member = dataDir + "/member"
        guard !Files.exists(member + "/" + MemberLayout.importedName) else { return false }
        return EtcdWAL.isEtcdWAL(dir: member + "/wal") && (try? BboltFile(path: member + "/snap/db")) != nil
    }

    /// Imports `dataDir`'s etcd state into `<data-dir>/member/etcd-swift`: the bbolt db's buckets
    /// into a new LMDB backend, and the newest usable `.snap`'s mark plus the WAL's metadata,
    /// entries after it and hard state into a new etcd-swift WAL. Built in a temporary directory
    /// and renamed into place, so a crash midway leaves no half import. etcd's files are only read.
    public static func run(dataDir: String) throws -> Summary {
        let member = dataDir + "/member"
        let walDir = member + "/wal"
        let marks = try EtcdWAL.validSnapshotMarks(dir: walDir)
        let loaded = EtcdSnap.loadNewestAvailable(dir: member + "/snap", marks: marks)
        let mark = loaded?.mark ?? EtcdSnapshotMark(index: 0, term: 0)
        let wal = try EtcdWAL.readAll(dir: walDir, from: mark)
        let db = try BboltFile(path: member + "/snap/db")

        let tmp = member + "/" + MemberLayout.importedName + ".tmp"
        try removeTree(tmp)
        try makeDirectories(tmp + "/snap")
        var buckets: [(name: String, keys: Int)] = []
        var consistentIndex: UInt64 = 0
        var membersFromSnap = 0
        do {
            var options = Backend.Options()
            options.mapSize = max(options.mapSize, db.fileSize * 2 + 64 << 20)
            let backend = try Backend(path: tmp + "/snap/db", options: options)
            consistentIndex = try BboltBucketCopy.consistentIndex(of: db)
            // etcd 3.4 recovers membership from the v2 store in its .snap, not from the backend's
            // buckets, which `etcdctl snapshot restore` leaves holding the old cluster's members.
            // When nothing was applied past the .snap, its v2 store is the membership; otherwise
            // the backend is newer (etcd writes both on every membership change) and stands.
            let v2 = loaded.flatMap { l in
                l.mark.index >= consistentIndex ? V2Membership(storeJSON: l.snapshot.data ?? []) : nil
            }
            buckets = try BboltBucketCopy.copy(db, into: backend, skipping: v2 != nil ? [.members, .membersRemoved] : [])
            try backend.update { tx in
                try tx.put(.meta, MemberLayout.walSnapshotKey, MemberLayout.encode(mark: mark))
                if let v2 {
                    try v2.put(into: tx)
                    membersFromSnap = v2.members.count
                }
            }
            try backend.sync()

            let out = try WAL.create(dir: tmp + "/wal", metadata: wal.metadata)
            var records: [WALRecord] = []
            if mark.index > 0 { records.append(.snapshot(WALSnapshot(index: mark.index, term: mark.term))) }
            for e in wal.entries {
                records.append(.entry(WALEntry(index: e.index ?? 0, term: e.term ?? 0, type: UInt8(truncatingIfNeeded: e.type?.rawValue ?? 0),
                                               data: e.data ?? [])))
            }
            let hs = wal.hardState
            records.append(.hardState(WALHardState(term: hs.term ?? 0, vote: hs.vote ?? 0, commit: hs.commit ?? 0)))
            try out.append(records)
            try out.close()
        } catch let refusal as BboltBucketCopy.Refusal {
            try? removeTree(tmp)
            switch refusal {
            case let .unknownBucket(name): throw Failure.unknownBucket(name)
            case let .malformed(why): throw Failure.backend("etcd's db cannot be imported: \(why)")
            }
        } catch {
            try? removeTree(tmp)
            throw error
        }
        let final = member + "/" + MemberLayout.importedName
        guard rename(tmp, final) == 0 else { throw EtcdDataDirError.io(operation: "rename", path: tmp, errno: errno) }
        let dfd = open(member, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
        let hs = wal.hardState
        return Summary(snapshot: mark, snapFile: loaded?.file, entries: wal.entries.count,
                       hardState: (hs.term ?? 0, hs.vote ?? 0, hs.commit ?? 0), nodeID: wal.nodeID, clusterID: wal.clusterID,
                       buckets: buckets, membersFromSnap: membersFromSnap, consistentIndex: consistentIndex,
                       tornTail: wal.tail.torn)
    }

    /// Removes `path` and everything under it (absent is fine).
    static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            for name in Files.list(path) ?? [] { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 else { throw EtcdDataDirError.io(operation: "rmdir", path: path, errno: errno) }
        } else if unlink(path) != 0 {
            throw EtcdDataDirError.io(operation: "unlink", path: path, errno: errno)
        }
    }
}

func hex(_ v: UInt64) -> String { String(v, radix: 16) }
