import EtcdDataDir
import EtcdProto
import Lease
import Logging
import MVCC
import Raft
import Storage
import Synchronization

/// A member's durable state under `<data-dir>/member/`: the WAL (`wal/`) holding raft's log and
/// hard state, and the LMDB backend (`snap/db`) holding the MVCC store, leases, alarms and
/// membership. The WAL is written by the raft driver's thread only; the backend by the applier
/// only; reads come from any task.
///
/// `@unchecked Sendable`: `wal` is touched only by the driver thread (and by `openLog`, before
/// that thread starts); `store` and `backend` are Sendable and guard themselves.
final class MemberStorage: DurableLog, @unchecked Sendable {
    let backend: Backend
    let store: KVStore
    private let walDir: String
    /// `<data-dir>/member/snap`: the backend, and snapshots received from the leader.
    let snapDir: String
    private let walOptions: WAL.Options
    private var wal: WAL?
    private let logger: Logger
    /// The backend file's size as of the last applied run, so the quota check needs no syscall.
    private let backendSize = Atomic<Int64>(0)

    /// What the WAL held at start-up.
    struct Recovered {
        /// The snapshot the entries follow: the one the backend noted, or a later one received
        /// from the leader (0, 0 when none).
        var snapshot: WALSnapshot
        var hardState: HardState
        var entries: [Entry]
        /// The member and cluster ids the WAL was created with (etcd's `Metadata`).
        var memberID: UInt64
        var clusterID: UInt64
    }

    init(options: ServerOptions, logger: Logger) throws {
        self.logger = logger
        // etcd-swift's own state sits beside etcd's files in a data dir imported from etcd.
        let memberDir = MemberLayout.memberDir(dataDir: options.dataDir)
        walDir = memberDir + "/wal"
        snapDir = memberDir + "/snap"
        var walOptions = WAL.Options(segmentSize: options.walSegmentBytes, maxFiles: options.maxWALs)
        walOptions.unsafeNoFsync = options.unsafeNoFsync
        self.walOptions = walOptions
        if options.maxWALs > 0 {
            Logger(label: "pkg/fileutil").info("started to purge file, dir: \(walDir), suffix: wal, max: \(options.maxWALs), interval: 30s")
        }
        try makeDirectories(memberDir + "/snap")
        ServerNode.removeStaleExports(in: snapDir)
        let quota = options.quotaBackendBytes > 0 ? options.quotaBackendBytes : Backend.defaultQuotaBytes
        // The quota is enforced by the server (NOSPACE alarm); the LMDB map leaves room beyond it so
        // the alarm, a compaction and the alarm's disarming can still be written when it is hit.
        var backendOptions = Backend.Options(quotaBytes: quota)
        backendOptions.unsafeNoFsync = options.unsafeNoFsync
        backendOptions.mapSize = quota * 2 + 64 << 20
        backend = try Backend(path: memberDir + "/snap/db", options: backendOptions)
        do { store = try KVStore(backend: backend) } catch { throw ServerError(error) }
        backendSize.store(backend.size, ordering: .relaxed)
    }

    var hasLog: Bool { WAL.exists(dir: walDir) }

    /// Opens the WAL of a member that has one.
    func openLog() throws -> Recovered {
        let mark = try savedSnapshot()
        let (wal, contents) = try WAL.open(dir: walDir, snapshot: mark, options: walOptions)
        self.wal = wal
        let hs = contents.hardState.map { HardState(term: $0.term, vote: $0.vote, commit: $0.commit) } ?? HardState()
        let metadata = try Etcdserverpb_Metadata(serializedBytes: contents.metadata)
        return Recovered(snapshot: contents.installedSnapshot ?? mark, hardState: hs, entries: contents.entries.map {
            Entry(term: $0.term, index: $0.index, type: $0.type == 1 ? .confChange : .normal, data: $0.data)
        }, memberID: metadata.nodeID ?? 0, clusterID: metadata.clusterID ?? 0)
    }

    /// Creates the WAL of a new member, with etcd's metadata (node and cluster ids).
    func createLog(memberID: UInt64, clusterID: UInt64) throws {
        var metadata = Etcdserverpb_Metadata()
        metadata.nodeID = memberID
        metadata.clusterID = clusterID
        wal = try WAL.create(dir: walDir, metadata: metadata.serializedBytes(), options: walOptions)
    }

    // MARK: DurableLog (driver thread)

    func save(hardState: HardState?, entries: [Entry], sync: Bool) throws {
        var records: [WALRecord] = entries.map {
            .entry(WALEntry(index: $0.index, term: $0.term, type: $0.type.rawValue, data: $0.data))
        }
        if let hs = hardState { records.append(.hardState(WALHardState(term: hs.term, vote: hs.vote, commit: hs.commit))) }
        if records.isEmpty { return }
        try wal!.append(records)
        if sync { try wal!.sync() }
    }

    /// The WAL keeps entries from its last snapshot record on; older segments go. The record is
    /// written and synced first, then the backend notes it, then segments are deleted, so a crash
    /// at any step leaves a snapshot record that the noted one matches. The caller has synced the
    /// backend through `index`.
    func release(through index: UInt64, term: UInt64) throws {
        let snapshot = WALSnapshot(index: index, term: term)
        try wal!.append(.snapshot(snapshot))
        try wal!.sync()
        try backend.update { tx in try tx.put(.meta, Self.walSnapshotKey, Self.encode(snapshot)) }
        try backend.sync()
        let purged = try wal!.releaseTo(index: index)
        for path in purged { Logger(label: "pkg/fileutil").info("purged file \(path) successfully") }
        logger.info("saved snapshot at index \(index); released WAL segments before it")
    }

    /// Records a snapshot received from the leader ahead of the entries that follow it (driver
    /// thread, before those entries are saved).
    func saveSnapshot(index: UInt64, term: UInt64) throws {
        try wal!.append(.snapshot(WALSnapshot(index: index, term: term)))
        try wal!.sync()
    }

    /// Notes in the backend that its contents are those of the snapshot at `index` (applier,
    /// after installing it), so a restart opens the WAL there.
    func noteSnapshot(index: UInt64, term: UInt64) throws {
        try backend.update { tx in try tx.put(.meta, Self.walSnapshotKey, Self.encode(WALSnapshot(index: index, term: term))) }
        try backend.sync()
    }

    /// Our own `meta` key (etcd keeps this in its snap files): the WAL snapshot record to open at.
    private static let walSnapshotKey = MemberLayout.walSnapshotKey

    private func savedSnapshot() throws -> WALSnapshot {
        let tx = try backend.read()
        defer { tx.end() }
        guard let bytes = try tx.get(.meta, Self.walSnapshotKey), bytes.count == 16 else {
            return WALSnapshot(index: 0, term: 0)
        }
        func word(_ at: Int) -> UInt64 { bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        return WALSnapshot(index: word(0), term: word(8))
    }

    private static func encode(_ s: WALSnapshot) -> [UInt8] {
        (0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? s.index : s.term) >> UInt64(56 - 8 * (i % 8))) }
    }

    /// Refreshes the cached backend size (applier, after each run).
    func noteBackendSize() { backendSize.store(backend.highWaterBytes, ordering: .relaxed) }
    var cachedBackendSize: Int64 { backendSize.load(ordering: .relaxed) }

    /// Makes every committed LMDB transaction durable (apply thread, before a WAL release).
    func syncBackend() throws { try backend.sync() }

    func close() {
        try? wal?.close()
        try? backend.sync()
    }

    // MARK: Reads (any task)

    var currentRevision: Int64 { store.currentRevision }
    var dbSize: Int64 { backend.size }
    var dbSizeInUse: Int64 { backend.sizeInUse }

    func withReadView<R>(_ body: (StoreReader) throws(ServerError) -> R) throws(ServerError) -> R {
        let view: ReadView
        do { view = try store.read() } catch { throw ServerError(error) }
        defer { view.end() }
        return try body(StoreReader(view: view))
    }

    func hashKV(revision: Int64) throws(ServerError) -> (hash: UInt32, revision: Int64, compactRevision: Int64) {
        do {
            let r = try store.hashByRev(revision)
            return (r.hash, r.currentRev, r.compactRev)
        } catch { throw ServerError(error) }
    }

    func hash() throws(ServerError) -> UInt32 {
        do { return try store.hash().hash } catch { throw ServerError(error) }
    }

    // MARK: Writes (apply thread)

    /// Starts applying a run of entries; see `ApplySession`.
    func beginApply(lessor: Lessor) -> ApplySession { ApplySession(store: store, lessor: lessor) }
}

extension ServerError {
    init(_ error: MVCCError) {
        switch error {
        case .compacted: self = .compacted
        case .futureRev: self = .futureRevision
        case .storage(.mapFull): self = .noSpace
        default: self = .internal("etcdserver: \(error)")
        }
    }

    init(_ error: any Error) {
        if let e = error as? ServerError { self = e } else if let e = error as? MVCCError { self.init(e) } else if let e = error as? LeaseError {
            self.init(lease: e)
        } else {
            self = .internal("etcdserver: \(error)")
        }
    }
}

/// An MVCC read view as the applier sees it.
struct StoreReader: KVReader {
    let view: ReadView
    var revision: Int64 { view.rev }
    var firstRevision: Int64 { view.compactRev + 1 }

    func range(key: [UInt8], end: [UInt8], limit: Int64, revision: Int64, countOnly: Bool) throws(ServerError) -> KVRange {
        do {
            return KVRange(try view.range(key, end, options: RangeOptions(limit: limit, rev: revision, countOnly: countOnly)))
        } catch { throw ServerError(error) }
    }
}

/// An MVCC write txn as the applier sees it. It keeps the lessor's key lists in step with the
/// keys' leases, as etcd's mvcc does when it writes.
struct StoreWriter: KVWriter {
    let txn: WriteTxn
    let firstRevision: Int64
    let lessor: Lessor
    var revision: Int64 { txn.beginRev }

    func leaseExists(_ id: Int64) -> Bool { lessor.lookup(id: id) != nil }
    var hasChanges: Bool { txn.rev != txn.beginRev }

    func range(key: [UInt8], end: [UInt8], limit: Int64, revision: Int64, countOnly: Bool) throws(ServerError) -> KVRange {
        do {
            return KVRange(try txn.range(key, end, options: RangeOptions(limit: limit, rev: revision, countOnly: countOnly)))
        } catch { throw ServerError(error) }
    }

    func put(key: [UInt8], value: [UInt8], lease: Int64) throws(ServerError) -> Int64 {
        // With no lease in the cluster no key can hold one: skip reading the previous value.
        let tracking = lease != 0 || lessor.count > 0
        let previous: KeyValue?
        do { previous = try txn.put(key, value, lease: lease, prevKV: tracking) } catch { throw ServerError(error) }
        if let old = previous?.lease, old != 0, old != lease { try? lessor.detach(id: old, key: key) }
        if lease != 0 { try? lessor.attach(id: lease, key: key) }
        return txn.rev
    }

    func deleteRange(key: [UInt8], end: [UInt8]) throws(ServerError) -> Int64 {
        let tracking = lessor.count > 0
        do {
            let result = try txn.deleteRange(key, end, prevKV: tracking)
            for kv in result.prevKVs where kv.lease != 0 { try? lessor.detach(id: kv.lease, key: kv.key) }
            return result.deleted
        } catch { throw ServerError(error) }
    }
}

extension KVRange {
    init(_ r: RangeResult) { self.init(kvs: r.kvs.map(\.proto), count: r.count, revision: r.rev) }
}

extension KeyValue {
    public var proto: Mvccpb_KeyValue {
        var kv = Mvccpb_KeyValue()
        kv.key = key
        kv.createRevision = createRevision
        kv.modRevision = modRevision
        kv.version = version
        kv.value = value
        kv.lease = lease
        return kv
    }
}
