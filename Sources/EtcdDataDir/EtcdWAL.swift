import EtcdProto

/// A snapshot mark in etcd's WAL (`walpb.Snapshot`): raft's log was compacted through `index`.
public struct EtcdSnapshotMark: Sendable, Equatable, CustomStringConvertible {
    public var index: UInt64
    public var term: UInt64

    public init(index: UInt64, term: UInt64) {
        self.index = index
        self.term = term
    }

    public var description: String { "index \(index) term \(term)" }
}

/// What etcd's `WAL.ReadAll` returns after a snapshot mark.
public struct EtcdWALContents: Sendable {
    /// The `etcdserverpb.Metadata` bytes every segment repeats.
    public var metadata: [UInt8]
    public var nodeID: UInt64
    public var clusterID: UInt64
    /// The newest hard state (all zero when none was saved).
    public var hardState: Raftpb_HardState
    /// Entries after the snapshot, in index order; a later record at an index replaced the one
    /// before it and everything after.
    public var entries: [Raftpb_Entry]
    /// Where the last segment's valid records end, and whether a torn record followed.
    public var tail: (file: String, offset: Int, torn: Bool)
}

/// Reads etcd 3.4's WAL (`<data-dir>/member/wal`), never writing to it.
public enum EtcdWAL {
    /// Whether `dir` holds a WAL in etcd's format: its first segment opens with etcd's `crc`
    /// record (etcd-swift's own segments use another frame and have a non-zero byte 4).
    public static func isEtcdWAL(dir: String) -> Bool {
        guard let first = try? listSegments(dir).first, let bytes = Files.readPrefix(first.path, count: 80),
              bytes.count >= 16, bytes[4] == 0, bytes[5] == 0, bytes[6] == 0 else { return false }
        let word = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let n = Int(word & 0x00FF_FFFF_FFFF_FFFF)
        guard n > 0, n < 64, 8 + n <= bytes.count,
              let rec = try? Walpb_Record(serializedBytes: Array(bytes[8..<8 + n])) else { return false }
        return rec.type == EtcdRecordType.crc.rawValue
    }

    /// etcd's `Open` + `ReadAll` from `snapshot`: reads the segments from the last one whose first
    /// index is at or below the snapshot's, requires the snapshot's mark, and returns the newest
    /// metadata, hard state and the entries after the snapshot. A torn tail ends the log.
    public static func readAll(dir: String, from snapshot: EtcdSnapshotMark) throws(EtcdDataDirError) -> EtcdWALContents {
        let all = try listSegments(dir)
        guard let start = all.lastIndex(where: { $0.index <= snapshot.index }) else {
            throw .badSegments(dir: dir, detail: "no segment holds index \(snapshot.index)")
        }
        var metadata: [UInt8]?
        var hardState = Raftpb_HardState()
        var entries: [Raftpb_Entry] = []
        var matched = false
        let end = try WALDecoder(segments: Array(all[start...])).run { rec, file throws(EtcdDataDirError) in
            let data = rec.data ?? []
            switch EtcdRecordType(rawValue: rec.type ?? 0) {
            case .entry:
                guard let e = try? Raftpb_Entry(serializedBytes: data), let index = e.index else {
                    throw .corrupt(file: file, offset: -1, reason: "malformed raftpb.Entry")
                }
                if index > snapshot.index {
                    let up = index - snapshot.index - 1
                    guard up <= UInt64(entries.count) else {
                        throw .entryGap(file: file, expected: snapshot.index + UInt64(entries.count) + 1, got: index)
                    }
                    entries.removeSubrange(Int(up)...)
                    entries.append(e)
                }
            case .state:
                guard let h = try? Raftpb_HardState(serializedBytes: data) else {
                    throw .corrupt(file: file, offset: -1, reason: "malformed raftpb.HardState")
                }
                hardState = h
            case .metadata:
                if let m = metadata, m != data { throw .metadataConflict(file: file) }
                metadata = data
            case .snapshot:
                let s = try mark(data, file: file)
                if s.index == snapshot.index {
                    guard s.term == snapshot.term else {
                        throw .snapshotMismatch(index: snapshot.index, term: snapshot.term, walTerm: s.term)
                    }
                    matched = true
                }
            case .crc:
                break
            case nil:
                throw .corrupt(file: file, offset: -1, reason: "unexpected record type \(rec.type ?? 0)")
            }
        }
        guard matched else { throw .snapshotNotFound(index: snapshot.index, term: snapshot.term) }
        let meta = metadata ?? []
        guard let m = try? Etcdserverpb_Metadata(serializedBytes: meta) else {
            throw .corrupt(file: all[start].path, offset: -1, reason: "malformed etcdserverpb.Metadata")
        }
        return EtcdWALContents(metadata: meta, nodeID: m.nodeID ?? 0, clusterID: m.clusterID ?? 0,
                               hardState: hardState, entries: entries,
                               tail: (end.file, end.validOffset, end.torn))
    }

    /// etcd's `ValidSnapshotEntries`: every snapshot mark in the WAL at or below the committed
    /// index of its newest hard state, oldest first.
    public static func validSnapshotMarks(dir: String) throws(EtcdDataDirError) -> [EtcdSnapshotMark] {
        var marks: [EtcdSnapshotMark] = []
        var commit: UInt64 = 0
        _ = try WALDecoder(segments: listSegments(dir)).run { rec, file throws(EtcdDataDirError) in
            switch EtcdRecordType(rawValue: rec.type ?? 0) {
            case .snapshot: marks.append(try mark(rec.data ?? [], file: file))
            case .state:
                guard let h = try? Raftpb_HardState(serializedBytes: rec.data ?? []) else {
                    throw .corrupt(file: file, offset: -1, reason: "malformed raftpb.HardState")
                }
                commit = h.commit ?? 0
            default: break
            }
        }
        return marks.filter { $0.index <= commit }
    }

    private static func mark(_ data: [UInt8], file: String) throws(EtcdDataDirError) -> EtcdSnapshotMark {
        guard let s = try? Walpb_Snapshot(serializedBytes: data) else {
            throw .corrupt(file: file, offset: -1, reason: "malformed walpb.Snapshot")
        }
        return EtcdSnapshotMark(index: s.index ?? 0, term: s.term ?? 0)
    }
}
