/// A raft log entry as the WAL stores it. `type` is the raft entry type (0 normal, 1 conf change
/// ...), opaque here.
public struct WALEntry: Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64
    public var type: UInt8
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, type: UInt8 = 0, data: [UInt8]) {
        self.index = index
        self.term = term
        self.type = type
        self.data = data
    }
}

/// Raft's persistent hard state.
public struct WALHardState: Sendable, Equatable {
    public var term: UInt64
    public var vote: UInt64
    public var commit: UInt64

    public init(term: UInt64, vote: UInt64, commit: UInt64) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// Marks that a snapshot at (index, term) was saved; start-up reads from the newest one.
public struct WALSnapshot: Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64

    public init(index: UInt64, term: UInt64) {
        self.index = index
        self.term = term
    }
}

/// One WAL record.
public enum WALRecord: Sendable, Equatable {
    case entry(WALEntry)
    case hardState(WALHardState)
    case snapshot(WALSnapshot)
    /// Opaque member metadata (etcd stores node and cluster ids), repeated at every segment start.
    case metadata([UInt8])
}

/// What start-up recovered from the WAL.
public struct WALContents: Sendable, Equatable {
    /// The newest metadata record.
    public var metadata: [UInt8]
    /// The newest hard state, if any was saved.
    public var hardState: WALHardState?
    /// Entries after the snapshot index, in order; a later record for an index replaces it and
    /// everything after it (a new leader overwrote the tail).
    public var entries: [WALEntry]
    /// A snapshot record later than the one the log was opened at, that the entries follow (a
    /// snapshot received from a leader); nil when the entries follow the requested one.
    public var installedSnapshot: WALSnapshot? = nil
}

/// Errors from the WAL.
public enum WALError: Error, Equatable, CustomStringConvertible {
    /// A record in the middle of the log is damaged: the server must not start.
    case corrupt(file: String, offset: Int, reason: String)
    /// No WAL in the directory.
    case notFound(dir: String)
    /// Another WAL object or process holds the directory.
    case locked(dir: String)
    /// A WAL already exists where `create` was asked to make one.
    case alreadyExists(dir: String)
    /// Segment names are not a gap-free sequence, or none covers the snapshot index.
    case missingSegment(dir: String, detail: String)
    /// The snapshot the caller recovered from is not recorded in the WAL (or its term differs).
    case snapshotNotFound(index: UInt64, term: UInt64)
    /// An entry skips ahead of what the log holds.
    case entryGap(expected: UInt64, got: UInt64)
    /// A file-system call failed.
    case io(operation: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case let .corrupt(file, offset, reason): "wal: corrupt record in \(file) at offset \(offset): \(reason)"
        case let .notFound(dir): "wal: no WAL in \(dir)"
        case let .locked(dir): "wal: \(dir) is in use by another process"
        case let .alreadyExists(dir): "wal: a WAL already exists in \(dir)"
        case let .missingSegment(dir, detail): "wal: bad segment files in \(dir): \(detail)"
        case let .snapshotNotFound(i, t): "wal: snapshot index \(i) term \(t) not found in the WAL"
        case let .entryGap(e, g): "wal: entry index \(g) follows a log ending before \(e)"
        case let .io(op, path, e): "wal: \(op) \(path) failed: \(errnoString(e)) (errno \(e))"
        }
    }
}

/// The frame: u32 payload length, u8 type, 3 zero bytes, u32 CRC-32C, payload, zero padding to
/// a multiple of 8. The CRC runs over type byte + payload and is chained: each record's value
/// continues the previous record's, so a lost or reordered record breaks the chain. A segment
/// opens with a `crc` record carrying the chain value so far. Type 0 (zeroed, preallocated space)
/// ends a segment.
enum RecordType: UInt8 {
    case entry = 1, hardState = 2, snapshot = 3, metadata = 4, crc = 5
}

let frameHeaderSize = 12

extension Array where Element == UInt8 {
    @inline(__always) mutating func appendLE32(_ v: UInt32) {
        append(UInt8(truncatingIfNeeded: v)); append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v >> 16)); append(UInt8(truncatingIfNeeded: v >> 24))
    }

    @inline(__always) mutating func appendLE64(_ v: UInt64) {
        appendLE32(UInt32(truncatingIfNeeded: v)); appendLE32(UInt32(truncatingIfNeeded: v >> 32))
    }
}

@inline(__always) func loadLE32(_ p: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
    UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self))
}

@inline(__always) func loadLE64(_ p: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
    UInt64(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt64.self))
}

/// Appends one frame to `buf` and returns the new chain value.
func encodeFrame(_ type: RecordType, crc prev: UInt32, into buf: inout [UInt8],
                 payload: (inout [UInt8]) -> Void) -> UInt32 {
    let start = buf.count
    buf.appendLE32(0)
    buf.append(type.rawValue); buf.append(0); buf.append(0); buf.append(0)
    buf.appendLE32(0)
    payload(&buf)
    let len = buf.count - start - frameHeaderSize
    let crc = buf.withUnsafeBytes { b in
        CRC32C.update(prev, UnsafeRawBufferPointer(rebasing: b[(start + 4)..<(start + 5)]))
    }
    let full = buf.withUnsafeBytes { b in
        CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: b[(start + frameHeaderSize)...]))
    }
    buf.withUnsafeMutableBytes { b in
        b.storeBytes(of: UInt32(len).littleEndian, toByteOffset: start, as: UInt32.self)
        b.storeBytes(of: full.littleEndian, toByteOffset: start + 8, as: UInt32.self)
    }
    while (buf.count - start) % 8 != 0 { buf.append(0) }
    return full
}

/// Appends `record`'s frame; returns the new chain value.
func encodeRecord(_ record: WALRecord, crc: UInt32, into buf: inout [UInt8]) -> UInt32 {
    switch record {
    case let .entry(e):
        return encodeFrame(.entry, crc: crc, into: &buf) { b in
            b.appendLE64(e.index); b.appendLE64(e.term); b.append(e.type); b.append(contentsOf: e.data)
        }
    case let .hardState(h):
        return encodeFrame(.hardState, crc: crc, into: &buf) { b in
            b.appendLE64(h.term); b.appendLE64(h.vote); b.appendLE64(h.commit)
        }
    case let .snapshot(s):
        return encodeFrame(.snapshot, crc: crc, into: &buf) { b in b.appendLE64(s.index); b.appendLE64(s.term) }
    case let .metadata(m):
        return encodeFrame(.metadata, crc: crc, into: &buf) { b in b.append(contentsOf: m) }
    }
}

/// Decodes a payload; nil when its size does not fit its type.
func decodePayload(_ type: RecordType, _ p: UnsafeRawBufferPointer) -> WALRecord? {
    switch type {
    case .entry:
        guard p.count >= 17 else { return nil }
        return .entry(WALEntry(index: loadLE64(p, 0), term: loadLE64(p, 8), type: p[16],
                               data: [UInt8](UnsafeRawBufferPointer(rebasing: p[17...]))))
    case .hardState:
        guard p.count == 24 else { return nil }
        return .hardState(WALHardState(term: loadLE64(p, 0), vote: loadLE64(p, 8), commit: loadLE64(p, 16)))
    case .snapshot:
        guard p.count == 16 else { return nil }
        return .snapshot(WALSnapshot(index: loadLE64(p, 0), term: loadLE64(p, 8)))
    case .metadata:
        return .metadata([UInt8](p))
    case .crc:
        return nil
    }
}
