import EtcdMetrics
import Glibc

/// The write-ahead log under `<data-dir>/member/wal/`: numbered, preallocated segment files of
/// CRC-chained records (see `RecordType` for the frame).
///
/// Group commit: `append` only encodes into memory; one `sync()` writes and fdatasyncs every
/// record appended since the last one, so the raft loop can acknowledge a whole batch of
/// proposals with a single flush. A record is durable once a `sync()` that followed it returned.
///
/// Thread-safety: not Sendable and not locked. One thread or task owns the WAL (the raft loop),
/// and hands it off only by transferring ownership.
public final class WAL {
    public struct Options: Sendable {
        /// Size a segment is preallocated to; a segment is cut once its records reach it.
        public var segmentSize: Int
        /// The most segment files kept (etcd's `--max-wals`, 5): released segments beyond it are
        /// deleted, oldest first; segments after the last snapshot are never deleted. 0 keeps
        /// every file.
        public var maxFiles: Int
        /// etcd's `--unsafe-no-fsync`: `sync()` writes the records but does not wait for the disk.
        public var unsafeNoFsync = false

        public init(segmentSize: Int = 64 * 1024 * 1024, maxFiles: Int = 5) {
            self.segmentSize = segmentSize
            self.maxFiles = maxFiles
        }
    }

    private struct Segment {
        var seq: UInt64
        var index: UInt64
        var path: String
    }

    public let dir: String
    private let options: Options
    private var segments: [Segment]
    /// Segments before the last snapshot still on disk (within `maxFiles`), oldest first.
    private var released: [Segment] = []
    private var fd: Int32
    /// The WAL directory, held with an exclusive flock so a second process (or WAL object)
    /// cannot append to the same log.
    private var lockFD: Int32
    private var flushed: Int
    private var pending: [UInt8] = []
    private var crc: UInt32
    private var metadata: [UInt8]
    private var hardState: WALHardState?
    /// Index of the last entry appended or read.
    public private(set) var lastIndex: UInt64

    private init(dir: String, options: Options, lockFD: Int32, segments: [Segment], fd: Int32, offset: Int,
                 crc: UInt32, metadata: [UInt8], hardState: WALHardState?, lastIndex: UInt64) {
        self.dir = dir
        self.lockFD = lockFD
        self.options = options
        self.segments = segments
        self.fd = fd
        self.flushed = offset
        self.crc = crc
        self.metadata = metadata
        self.hardState = hardState
        self.lastIndex = lastIndex
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
        if lockFD >= 0 { Glibc.close(lockFD) }
    }

    /// Takes the directory lock; `WALError.locked` when another holder has it.
    private static func lockDir(_ dir: String) throws -> Int32 {
        let fd = try walOpen(dir, O_RDONLY | O_DIRECTORY)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            Glibc.close(fd)
            if e == EWOULDBLOCK { throw WALError.locked(dir: dir) }
            throw WALError.io(operation: "flock", path: dir, errno: e)
        }
        return fd
    }

    /// Whether `dir` holds any segment.
    public static func exists(dir: String) -> Bool {
        ((try? walListDir(dir)) ?? []).contains { parseSegmentName($0) != nil }
    }

    /// Makes a new WAL in `dir` (created if missing) whose first segment records `metadata` and
    /// the empty snapshot (0, 0).
    public static func create(dir: String, metadata: [UInt8], options: Options = Options()) throws -> WAL {
        try makeDirectories(dir)
        if exists(dir: dir) { throw WALError.alreadyExists(dir: dir) }
        let lockFD = try lockDir(dir)
        var header: [UInt8] = []
        let c = encodeHeader(prevCRC: 0, metadata: metadata, hardState: nil, into: &header)
        let crc = encodeRecord(.snapshot(WALSnapshot(index: 0, term: 0)), crc: c, into: &header)
        let seg = Segment(seq: 0, index: 0, path: dir + "/" + segmentName(seq: 0, index: 0))
        let fd: Int32
        do {
            fd = try writeSegment(seg.path, header: header, size: options.segmentSize, dir: dir)
        } catch {
            Glibc.close(lockFD)
            throw error
        }
        return WAL(dir: dir, options: options, lockFD: lockFD, segments: [seg], fd: fd, offset: header.count,
                   crc: crc, metadata: metadata, hardState: nil, lastIndex: 0)
    }

    /// Opens the WAL in `dir` for appending and returns what it holds after `snapshot` (the newest
    /// snapshot the caller restored; (0, 0) when none). A torn tail is cut off; damage anywhere
    /// else throws `WALError.corrupt` naming the file and offset.
    public static func open(dir: String, snapshot: WALSnapshot = WALSnapshot(index: 0, term: 0),
                            options: Options = Options()) throws -> (WAL, WALContents) {
        let names = try walListDir(dir)
        var all: [Segment] = []
        for name in names {
            if let (s, i) = parseSegmentName(name) { all.append(Segment(seq: s, index: i, path: dir + "/" + name)) }
        }
        guard !all.isEmpty else { throw WALError.notFound(dir: dir) }
        let lockFD = try lockDir(dir)
        do {
            return try openLocked(dir: dir, snapshot: snapshot, options: options, all: all, lockFD: lockFD)
        } catch {
            Glibc.close(lockFD)
            throw error
        }
    }

    private static func openLocked(dir: String, snapshot: WALSnapshot, options: Options, all: [Segment],
                                   lockFD: Int32) throws -> (WAL, WALContents) {
        // A segment a crash left half made (never renamed into place) holds nothing acknowledged.
        for name in try walListDir(dir) where name.hasSuffix(".wal.tmp") { unlink(dir + "/" + name) }
        var all = all
        all.sort { $0.seq < $1.seq }
        for k in 1..<all.count where all[k].seq != all[k - 1].seq + 1 {
            throw WALError.missingSegment(dir: dir, detail: "sequence jumps from \(all[k - 1].seq) to \(all[k].seq)")
        }
        guard let start = all.lastIndex(where: { $0.index <= snapshot.index }) else {
            throw WALError.missingSegment(dir: dir, detail: "no segment holds index \(snapshot.index)")
        }
        let live = Array(all[start...])

        var crc: UInt32 = 0
        var metadata: [UInt8] = []
        var hardState: WALHardState?
        var entries: [WALEntry] = []
        var lastIndex: UInt64 = 0
        var matched = false
        // The index the entries follow: the snapshot asked for, or a later one received from a
        // leader (a snapshot record beyond the entries read so far replaces them).
        var base = snapshot
        var installed: WALSnapshot?
        // The term of the entry at `base.index`, when one was read.
        var baseTerm: UInt64?
        var end = SegmentEnd(offset: 0, torn: false)
        for (k, seg) in live.enumerated() {
            let bytes = try walReadFile(seg.path)
            end = try readSegment(bytes, file: seg.path, isLast: k == live.count - 1, crc: &crc) { record in
                switch record {
                case let .entry(e):
                    if e.index > base.index {
                        let up = Int(e.index - base.index - 1)
                        guard up <= entries.count else {
                            throw WALError.entryGap(expected: base.index + UInt64(entries.count) + 1, got: e.index)
                        }
                        entries.removeSubrange(up...)
                        entries.append(e)
                    } else {
                        // Rewrites the log from at or before the base: no entry read after it stands.
                        entries.removeAll()
                        baseTerm = e.index == base.index ? e.term : nil
                    }
                    lastIndex = e.index
                case let .hardState(h): hardState = h
                case let .metadata(m): metadata = m
                case let .snapshot(s):
                    lastIndex = max(lastIndex, s.index)
                    // A log snapshot of this member is of an entry its log holds; a snapshot
                    // received from a leader is not (raft installs one only when the log does not
                    // hold its index and term), and replaces the whole log read so far.
                    func held() -> Bool {
                        if s.index == base.index { return baseTerm == s.term }
                        guard s.index > base.index, s.index <= base.index + UInt64(entries.count) else { return false }
                        return entries[Int(s.index - base.index - 1)].term == s.term
                    }
                    if s.index == snapshot.index {
                        guard s.term == snapshot.term else {
                            throw WALError.snapshotNotFound(index: snapshot.index, term: snapshot.term)
                        }
                        if !held() { entries.removeAll() }
                        baseTerm = s.term
                        matched = true
                    } else if matched, s.index > base.index, !held() {
                        base = s
                        baseTerm = s.term
                        installed = s
                        entries.removeAll()
                    }
                }
            }
        }
        guard matched else { throw WALError.snapshotNotFound(index: snapshot.index, term: snapshot.term) }

        let tail = live[live.count - 1]
        let fd = try walOpen(tail.path, O_RDWR)
        if end.torn {
            // Drop the torn bytes and re-reserve zeros, so the next append starts on clean space.
            guard ftruncate(fd, off_t(end.offset)) == 0 else {
                Glibc.close(fd)
                throw WALError.io(operation: "ftruncate", path: tail.path, errno: errno)
            }
            try walPreallocate(fd, max(options.segmentSize, end.offset), path: tail.path)
            guard fsync(fd) == 0 else {
                Glibc.close(fd)
                throw WALError.io(operation: "fsync", path: tail.path, errno: errno)
            }
        }
        let wal = WAL(dir: dir, options: options, lockFD: lockFD, segments: all, fd: fd, offset: end.offset,
                      crc: crc, metadata: metadata, hardState: hardState, lastIndex: lastIndex)
        return (wal, WALContents(metadata: metadata, hardState: hardState, entries: entries, installedSnapshot: installed))
    }

    /// Buffers `records` (see the type's note on group commit); cuts a new segment when the
    /// current one is full.
    public func append(_ records: [WALRecord]) throws {
        for r in records { try append(r) }
    }

    /// Buffers one record.
    public func append(_ record: WALRecord) throws {
        crc = encodeRecord(record, crc: crc, into: &pending)
        switch record {
        case let .entry(e): lastIndex = e.index
        case let .hardState(h): hardState = h
        case let .metadata(m): metadata = m
        // As etcd's SaveSnapshot raises enti: a segment cut after a snapshot record is named
        // after it, so that opening at the snapshot starts at or before its record.
        case let .snapshot(s): lastIndex = max(lastIndex, s.index)
        }
        if flushed + pending.count >= options.segmentSize { try cut() }
    }

    /// Writes every buffered record and waits for the disk (fdatasync).
    public func sync() throws {
        try flush()
        if options.unsafeNoFsync { return }
        let start = Meters.now()
        guard fdatasync(fd) == 0 else { throw WALError.io(operation: "fdatasync", path: tailPath, errno: errno) }
        Meters.walFsync.record(Meters.seconds(since: start))
    }

    /// Releases segments that hold only entries before `index` (the index of a saved snapshot),
    /// always keeping the segment that may hold `index` itself and the tail; then deletes released
    /// segments, oldest first, while more than `maxFiles` files are kept. Returns the deleted paths.
    @discardableResult
    public func releaseTo(index: UInt64) throws -> [String] {
        var keepFrom = segments.count - 1
        if let i = segments.firstIndex(where: { $0.index >= index }) { keepFrom = i - 1 }
        if keepFrom > 0 {
            released.append(contentsOf: segments[..<keepFrom])
            segments.removeFirst(keepFrom)
        }
        guard options.maxFiles > 0 else { return [] }
        var purged: [String] = []
        while !released.isEmpty, released.count + segments.count > options.maxFiles {
            let seg = released.removeFirst()
            if unlink(seg.path) != 0 && errno != ENOENT {
                released.insert(seg, at: 0)
                throw WALError.io(operation: "unlink", path: seg.path, errno: errno)
            }
            purged.append(seg.path)
        }
        if !purged.isEmpty { try walSyncDir(dir) }
        return purged
    }

    /// Syncs and closes the tail and releases the directory lock; the WAL must not be used
    /// afterwards.
    public func close() throws {
        guard fd >= 0 else { return }
        defer {
            Glibc.close(fd)
            fd = -1
            Glibc.close(lockFD)
            lockFD = -1
        }
        try sync()
    }

    /// Segment file names currently live, oldest first (for tests and diagnostics).
    public var segmentPaths: [String] { segments.map(\.path) }

    private var tailPath: String { segments[segments.count - 1].path }

    private func flush() throws {
        guard !pending.isEmpty else { return }
        precondition(fd >= 0, "WAL used after close()")
        try pending.withUnsafeBytes { try walWriteAll(fd, $0, at: flushed, path: tailPath) }
        flushed += pending.count
        pending.removeAll(keepingCapacity: true)
    }

    /// Seals the tail (flushed, synced, trimmed to its records) and starts the next segment with
    /// the chain value, the metadata and the hard state.
    private func cut() throws {
        try sync()
        guard ftruncate(fd, off_t(flushed)) == 0 else {
            throw WALError.io(operation: "ftruncate", path: tailPath, errno: errno)
        }
        let last = segments[segments.count - 1]
        let seg = Segment(seq: last.seq + 1, index: lastIndex + 1,
                          path: dir + "/" + segmentName(seq: last.seq + 1, index: lastIndex + 1))
        var header: [UInt8] = []
        let c = WAL.encodeHeader(prevCRC: crc, metadata: metadata, hardState: hardState, into: &header)
        let newFD = try WAL.writeSegment(seg.path, header: header, size: options.segmentSize, dir: dir)
        Glibc.close(fd)
        fd = newFD
        segments.append(seg)
        flushed = header.count
        crc = c
    }

    private static func encodeHeader(prevCRC: UInt32, metadata: [UInt8], hardState: WALHardState?,
                                     into buf: inout [UInt8]) -> UInt32 {
        _ = encodeFrame(.crc, crc: 0, into: &buf) { $0.appendLE32(prevCRC) }
        var c = encodeRecord(.metadata(metadata), crc: prevCRC, into: &buf)
        if let h = hardState { c = encodeRecord(.hardState(h), crc: c, into: &buf) }
        return c
    }

    /// Writes a complete segment under a temporary name and renames it into place, so a crash
    /// never leaves a segment without its header.
    private static func writeSegment(_ path: String, header: [UInt8], size: Int, dir: String) throws -> Int32 {
        let tmp = path + ".tmp"
        let fd = try walOpen(tmp, O_RDWR | O_CREAT | O_TRUNC)
        do {
            try walPreallocate(fd, max(size, header.count), path: tmp)
            try header.withUnsafeBytes { try walWriteAll(fd, $0, at: 0, path: tmp) }
            guard fdatasync(fd) == 0 else { throw WALError.io(operation: "fdatasync", path: tmp, errno: errno) }
            guard rename(tmp, path) == 0 else { throw WALError.io(operation: "rename", path: tmp, errno: errno) }
            try walSyncDir(dir)
        } catch {
            Glibc.close(fd)
            unlink(tmp)
            throw error
        }
        return fd
    }
}
