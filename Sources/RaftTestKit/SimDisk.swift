import Raft
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// A simulated member's disk in `SimOptions.wal` mode, written and read back the way the server
/// does (`MemberStorage`, `RaftDriver.processReady`, `ServerNode.init`):
/// - the WAL (`Storage.WAL`, real files in a temporary directory): per `Ready`, a received
///   snapshot's record (synced) before the entries and the hard state, appended and synced when
///   `mustSync`; a log snapshot appends a snapshot record, syncs, notes it in the backend and
///   releases older segments (`MemberStorage.release`);
/// - the backend (kept in memory, durable by construction): the snapshot of the state machine
///   it holds and the WAL snapshot record a restart opens the WAL at (etcd-swift's meta key);
/// - the snapshot last received from a leader (the transport's database file), durable before
///   its WAL record is written. The backend notes it only once the applier installed it, which
///   may be after a crash (`pendingNote`).
///
/// A crash discards the `WAL` object without syncing (what `append` buffered since the last
/// `sync` is lost), or lets that data reach the disk, or a prefix of it followed by a torn
/// record; recovery is `WAL.open` at the backend's snapshot and raft's `MemoryStorage` rebuilt
/// from what it returns, as the server's restart does.
public final class SimDisk {
    /// What reaches the disk of the records appended since the last sync when the node crashes.
    public enum CrashMode: Sendable {
        /// Nothing (the usual case: the WAL object is dropped with its buffer).
        case loseUnsynced
        /// Everything (the page cache was written back before the crash).
        case unsyncedSurvive
        /// The first `keep` records, then a torn (partly written) record.
        case tornTail(keep: Int, garbage: [UInt8])
    }

    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    let dir: String
    let options: WAL.Options
    let metadata: [UInt8]
    private var wal: WAL?
    /// The backend's contents: the state machine's snapshot and the WAL snapshot record it notes.
    private(set) var backend: Snapshot
    /// The database file of the last snapshot received from a leader.
    private(set) var received: Snapshot?
    /// A received snapshot whose installation in the backend is still under way (the applier).
    private(set) var pendingNote: Snapshot?
    /// Records appended since the last sync, and the newest hard state known durable.
    private(set) var unsynced: [WALRecord] = []
    private(set) var durableHardState: WALHardState?

    // Counters for `SimStats`.
    var syncs = 0
    var lostRecords = 0
    var survivedRecords = 0
    var tornTails = 0
    var installedOnRestart = 0
    var segmentsReleased = 0
    var segmentsCut = 0

    /// Creates the WAL of a new member (`MemberStorage.createLog`). Founding members then record
    /// the initial snapshot at (1, 1) holding `confState`, as the backend and the WAL would after
    /// a log snapshot there.
    init(dir: String, id: UInt64, segmentSize: Int, founding confState: ConfState) throws {
        self.dir = dir
        options = WAL.Options(segmentSize: segmentSize)
        metadata = SimNode.encodeChecksum(id)
        wal = try WAL.create(dir: dir, metadata: metadata, options: options)
        backend = Snapshot()
        if !confState.voters.isEmpty {
            try append(.snapshot(WALSnapshot(index: 1, term: 1)))
            try append(.hardState(WALHardState(term: 1, vote: 0, commit: 1)))
            try sync()
            backend = Snapshot(metadata: SnapshotMetadata(confState: confState, index: 1, term: 1))
        }
    }

    // MARK: Writes (RaftDriver.processReady, MemberStorage)

    /// Persists `rd` before raft's `MemoryStorage` is updated: `saveSnapshot`, then `save`.
    func save(_ rd: Ready) throws {
        if let s = rd.snapshot {
            received = s
            try append(.snapshot(WALSnapshot(index: s.metadata.index, term: s.metadata.term)))
            try sync()
            pendingNote = s
        }
        var records: [WALRecord] = rd.entries.map {
            .entry(WALEntry(index: $0.index, term: $0.term, type: $0.type.rawValue, data: $0.data))
        }
        if let hs = rd.hardState { records.append(.hardState(WALHardState(term: hs.term, vote: hs.vote, commit: hs.commit))) }
        if records.isEmpty { return }
        for r in records { try append(r) }
        if rd.mustSync { try sync() }
    }

    /// The applier finished installing the received snapshot: the backend notes it.
    func notePending() {
        if let p = pendingNote { backend = p }
        pendingNote = nil
    }

    /// A log snapshot at `index` (`RaftDriver.snapshot(at:)` → `MemberStorage.release`): the
    /// record is written and synced, the backend notes it, older segments are deleted.
    func release(index: UInt64, term: UInt64, confState: ConfState, checksum: UInt64) throws {
        notePending() // the applier installs a received snapshot before it applies past it
        try append(.snapshot(WALSnapshot(index: index, term: term)))
        try sync()
        backend = Snapshot(data: SimNode.encodeChecksum(checksum),
                           metadata: SnapshotMetadata(confState: confState, index: index, term: term))
        let before = wal!.segmentPaths.count
        try wal!.releaseTo(index: index)
        segmentsReleased += before - wal!.segmentPaths.count
    }

    private func append(_ r: WALRecord) throws {
        let segments = wal!.segmentPaths.count
        try wal!.append(r)
        unsynced.append(r)
        // A full segment is cut, which syncs everything appended so far.
        if wal!.segmentPaths.count != segments {
            segmentsCut += 1
            markDurable()
        }
    }

    private func sync() throws {
        try wal!.sync()
        syncs += 1
        markDurable()
    }

    private func markDurable() {
        for case let .hardState(h) in unsynced { durableHardState = h }
        unsynced.removeAll()
    }

    // MARK: Crash and restart

    /// The node stops: the WAL object goes away with what it buffered, except what `mode` lets
    /// reach the disk. The backend loses a snapshot installation in progress.
    func crash(_ mode: CrashMode) throws {
        pendingNote = nil
        switch mode {
        case .loseUnsynced:
            lostRecords += unsynced.count
            unsynced.removeAll()
            wal = nil
        case .unsyncedSurvive:
            survivedRecords += unsynced.count
            try sync()
            wal = nil
        case let .tornTail(keep, garbage):
            let records = unsynced
            let keep = min(keep, records.count)
            lostRecords += records.count - keep
            survivedRecords += keep
            unsynced.removeAll()
            wal = nil
            if keep > 0 {
                // What reached the disk is what a write of those records alone would leave.
                let (w, _) = try WAL.open(dir: dir, snapshot: mark, options: options)
                wal = w
                for r in records[..<keep] { try append(r) }
                try sync()
                wal = nil
            }
            if !garbage.isEmpty {
                try tearTail(garbage)
                tornTails += 1
            }
        }
    }

    /// The WAL snapshot record the backend notes: where a restart opens the WAL.
    var mark: WALSnapshot { WALSnapshot(index: backend.metadata.index, term: backend.metadata.term) }

    /// `ServerNode.init`'s restart path: `MemberStorage.openLog` (the WAL opened at the
    /// backend's snapshot), a snapshot received before the crash installed when the backend is
    /// behind it, and raft's storage rebuilt: `applySnapshot` at the recovered snapshot (with
    /// the backend's membership), the entries appended, the hard state set (raft's `applied`
    /// then starts at the snapshot's index: `SimNode.start`). The hard state recovered is
    /// checked to be the newest one that reached the disk.
    ///
    /// `stateMachine`: the durable state machine's applied index and membership, when it is
    /// durable (the server's backend applies past its snapshot): the server builds raft's
    /// snapshot with the backend's current membership.
    func recover(stateMachine: (applied: UInt64, confState: ConfState)?) throws -> MemoryStorage {
        precondition(wal == nil, "recover after crash only")
        let (w, contents) = try WAL.open(dir: dir, snapshot: mark, options: options)
        wal = w
        unsynced.removeAll()
        guard contents.metadata == metadata else {
            throw Failure(message: "WAL metadata \(contents.metadata) is not the one it was created with \(metadata)")
        }
        let snapshot = contents.installedSnapshot ?? mark
        if snapshot.index > backend.metadata.index {
            // Received before the crash, not installed yet: the applier installs it now.
            guard let r = received, r.metadata.index == snapshot.index, r.metadata.term == snapshot.term else {
                throw Failure(message: "the WAL recovered a received snapshot at \(snapshot.index) term \(snapshot.term), but the last one received is at \(received?.metadata.index ?? 0) term \(received?.metadata.term ?? 0)")
            }
            backend = r
            installedOnRestart += 1
        }
        let storage = MemoryStorage()
        if snapshot.index > 0 {
            var s = backend
            if let sm = stateMachine, sm.applied >= snapshot.index { s.metadata.confState = sm.confState }
            try storage.applySnapshot(s)
        }
        storage.append(contents.entries.map {
            Entry(term: $0.term, index: $0.index, type: $0.type == 1 ? .confChange : .normal, data: $0.data)
        })
        let hs = contents.hardState.map { HardState(term: $0.term, vote: $0.vote, commit: $0.commit) } ?? HardState()
        storage.setHardState(hs)
        if contents.hardState != durableHardState {
            throw Failure(message: "the WAL recovered hard state \(String(describing: contents.hardState)), but \(String(describing: durableHardState)) was the newest one on disk")
        }
        return storage
    }

    /// Closes the WAL for good (end of the simulation).
    func close() { wal = nil }

    /// Writes `garbage` just past the last record of the newest segment: a record whose write
    /// was under way at the crash, partly on disk.
    private func tearTail(_ garbage: [UInt8]) throws {
        guard let tail = listDirectory(dir).filter({ $0.hasSuffix(".wal") }).max() else {
            throw Failure(message: "no WAL segment in \(dir)")
        }
        let path = dir + "/" + tail
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { throw Failure(message: "open \(path): errno \(errno)") }
        defer { Glibc.close(fd) }
        var st = stat()
        fstat(fd, &st)
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n == bytes.count else { throw Failure(message: "read \(path): short read") }
        // Frames: u32 length, u8 type, 3 zero bytes, u32 crc, payload, padding to 8 bytes;
        // zeroes (preallocated space) past the last one.
        var off = 0
        while off + 12 <= bytes.count {
            let len = Int(bytes[off]) | Int(bytes[off + 1]) << 8 | Int(bytes[off + 2]) << 16 | Int(bytes[off + 3]) << 24
            if len == 0 && bytes[off + 4] == 0 { break }
            off += (12 + len + 7) / 8 * 8
        }
        let w = garbage.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(off)) }
        guard w == garbage.count else { throw Failure(message: "write \(path): errno \(errno)") }
    }

    /// The first `size` bytes of a record whose write did not finish: a frame header (an entry
    /// whose frame reaches past `size`, so only zeros follow it) and bytes that are not its
    /// checksummed payload.
    static func tornRecord<R: RandomNumberGenerator>(size: Int, rng: inout R) -> [UInt8] {
        var b = (0..<max(size, 12)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let len = UInt32.random(in: UInt32(max(17, b.count - 12))...200, using: &rng)
        for i in 0..<4 { b[i] = UInt8(truncatingIfNeeded: len >> (8 * UInt32(i))) }
        b[4] = 1
        b[5] = 0; b[6] = 0; b[7] = 0
        return b
    }
}

/// A temporary directory for the simulation's WALs, removed with everything in it.
final class SimTempDir {
    let path: String

    init(base: String?) throws {
        let root = base ?? SimTempDir.defaultBase()
        try makeDirectories(root)
        var template = Array((root + "/raft-sim-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { b -> String? in
            mkdtemp(b.baseAddress!).map { String(cString: $0) }
        }
        guard let made else { throw SimDisk.Failure(message: "mkdtemp in \(root): errno \(errno)") }
        path = made
    }

    /// tmpfs when there is one (fdatasync is then cheap), else $TMPDIR or /tmp.
    static func defaultBase() -> String {
        if access("/dev/shm", W_OK) == 0 { return "/dev/shm" }
        if let t = getenv("TMPDIR") { return String(cString: t) }
        return "/tmp"
    }

    deinit { SimTempDir.removeTree(path) }

    static func removeTree(_ path: String) {
        for name in listDirectory(path) {
            let p = path + "/" + name
            if unlink(p) != 0 { removeTree(p) }
        }
        rmdir(path)
    }
}

/// The names in directory `dir` but "." and ".." (none when it cannot be read).
func listDirectory(_ dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
