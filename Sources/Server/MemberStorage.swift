import EtcdProto
import Lease
import Logging
import MVCC
import Storage

/// A member's durable state under `<data-dir>/member/`: the WAL (`wal/`) and the LMDB backend
/// (`snap/db`) holding the MVCC store. The WAL is written by the pipeline's log thread only; the
/// store by the apply thread only; reads come from any task.
///
/// `@unchecked Sendable`: `wal` is touched only by the log thread (and by `recover`, before that
/// thread starts); `store` and `backend` are Sendable and guard themselves.
final class MemberStorage: EntryLog, @unchecked Sendable {
    let backend: Backend
    let store: KVStore
    private let walDir: String
    private let walOptions: WAL.Options
    private var wal: WAL?
    private let logger: Logger

    struct Recovered {
        var term: UInt64
        var lastIndex: UInt64
        var appliedIndex: UInt64
        var isNew: Bool
        /// Entries in the WAL that the store has not applied yet, to replay before serving.
        var unapplied: [LogEntry]
    }

    init(options: ServerOptions, logger: Logger) throws {
        self.logger = logger
        let memberDir = options.dataDir + "/member"
        walDir = memberDir + "/wal"
        walOptions = WAL.Options(segmentSize: options.walSegmentBytes)
        try makeDirectories(memberDir + "/snap")
        let quota = options.quotaBackendBytes > 0 ? options.quotaBackendBytes : Backend.defaultQuotaBytes
        // The quota is enforced by the server (NOSPACE alarm); the LMDB map leaves room beyond it so
        // the alarm, a compaction and the alarm's disarming can still be written when it is hit.
        var backendOptions = Backend.Options(quotaBytes: quota)
        backendOptions.mapSize = quota * 2 + 64 << 20
        backend = try Backend(path: memberDir + "/snap/db", options: backendOptions)
        do { store = try KVStore(backend: backend) } catch { throw ServerError(error) }
    }

    /// Opens the WAL (creating it with the bootstrap entry for a new member), and starts a new
    /// term as a single member's election would.
    func recover(memberID: UInt64, clusterID: UInt64) throws -> Recovered {
        var recovered: Recovered
        if WAL.exists(dir: walDir) {
            let (wal, contents) = try WAL.open(dir: walDir, snapshot: try savedSnapshot(), options: walOptions)
            self.wal = wal
            let lastTerm = max(contents.entries.last?.term ?? 0, contents.hardState?.term ?? 0)
            let applied = store.consistentIndex
            recovered = Recovered(
                term: lastTerm + 1, lastIndex: max(wal.lastIndex, applied), appliedIndex: applied, isNew: false,
                unapplied: contents.entries.filter { $0.index > applied }.map {
                    LogEntry(index: $0.index, term: $0.term, kind: $0.type == 1 ? .confChange : .normal, data: $0.data)
                })
            logger.info("restarting member \(Identity.hex(memberID)) in cluster \(Identity.hex(clusterID)) at commit index \(wal.lastIndex)")
        } else {
            var metadata = Etcdserverpb_Metadata()
            metadata.nodeID = memberID
            metadata.clusterID = clusterID
            let wal = try WAL.create(dir: walDir, metadata: metadata.serializedBytes(), options: walOptions)
            self.wal = wal
            // The bootstrap entry adding this member, at term 1, as etcd's raft writes it.
            var change = Raftpb_ConfChange()
            change.type = .confChangeAddNode
            change.nodeID = memberID
            let bootstrap = LogEntry(index: 1, term: 1, kind: .confChange, data: change.serializedBytes())
            try append([bootstrap])
            recovered = Recovered(term: 2, lastIndex: 1, appliedIndex: 0, isNew: true, unapplied: [bootstrap])
        }
        try wal!.append(.hardState(WALHardState(term: recovered.term, vote: memberID, commit: recovered.lastIndex)))
        try wal!.sync()
        return recovered
    }

    // MARK: EntryLog (log thread)

    func append(_ entries: [LogEntry]) throws {
        try wal!.append(entries.map {
            .entry(WALEntry(index: $0.index, term: $0.term, type: $0.kind == .confChange ? 1 : 0, data: $0.data))
        })
    }

    func sync() throws { try wal!.sync() }

    /// The WAL keeps entries from its last snapshot record on; older segments go. The record is
    /// written and synced first, then the backend notes it, then segments are deleted, so a crash
    /// at any step leaves a snapshot record that the noted one matches.
    func release(through index: UInt64, term: UInt64) throws {
        let snapshot = WALSnapshot(index: index, term: term)
        try wal!.append(.snapshot(snapshot))
        try wal!.sync()
        try backend.update { tx in try tx.put(.meta, Self.walSnapshotKey, Self.encode(snapshot)) }
        try backend.sync()
        try wal!.releaseTo(index: index)
        logger.info("saved snapshot at index \(index); released WAL segments before it")
    }

    /// Our own `meta` key (etcd keeps this in its snap files): the WAL snapshot record to open at.
    private static let walSnapshotKey = Array("etcd-swift-wal-snapshot".utf8)

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

/// The writes of one run of applied entries, sharing one LMDB commit: nothing is visible to readers
/// (and no proposer may be answered) before `finish`. Apply thread only; not Sendable.
final class ApplySession {
    private let store: KVStore
    private let lessor: Lessor
    private var batch: WriteBatch?
    /// What each committed write changed, in order, for watchers.
    private(set) var changes: [(events: [Event], revision: Int64)] = []

    init(store: KVStore, lessor: Lessor) {
        self.store = store
        self.lessor = lessor
    }

    var currentRevision: Int64 { batch?.rev ?? store.currentRevision }

    /// Runs `body` in the next write txn of the batch; a failing body leaves no change behind.
    func write<R>(_ body: (StoreWriter) throws(ServerError) -> R) throws(ServerError) -> R {
        do {
            if batch == nil { batch = try store.beginBatch() }
            let txn = try batch!.write()
            let result: R
            do {
                result = try body(StoreWriter(txn: txn, firstRevision: store.compactedRevision + 1, lessor: lessor))
            } catch {
                txn.rollback()
                throw error
            }
            let events = try txn.end()
            if !events.isEmpty { changes.append((events, txn.rev)) }
            return result
        } catch {
            throw ServerError(error)
        }
    }

    /// Commits what is pending, for work that needs its own LMDB transaction (compaction, the
    /// lessor's bucket writes).
    func flush() throws(ServerError) {
        do {
            try batch?.commit()
            batch = nil
        } catch {
            batch = nil
            throw ServerError(error)
        }
    }

    func compact(_ revision: Int64) throws(ServerError) {
        try flush()
        do { try store.compact(revision) } catch { throw ServerError(error) }
    }

    /// Records `index` as applied and commits everything.
    func finish(appliedIndex index: UInt64) throws(ServerError) {
        do {
            if batch == nil { batch = try store.beginBatch() }
            let txn = try batch!.write()
            txn.setConsistentIndex(index)
            try txn.end()
            try batch!.commit()
            batch = nil
        } catch {
            batch?.abort()
            batch = nil
            throw ServerError(error)
        }
    }
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
        if let e = error as? ServerError { self = e } else if let e = error as? MVCCError { self.init(e) } else {
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
