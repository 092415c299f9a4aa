/// Why etcd 3.4's files under a data dir could not be read. Every case names the file (or
/// directory) so an operator can find it.
public enum EtcdDataDirError: Error, Equatable, CustomStringConvertible {
    /// No `*.wal` segment in the directory.
    case noWAL(dir: String)
    /// Segment names are not a gap-free sequence, or none covers the snapshot index.
    case badSegments(dir: String, detail: String)
    /// A record that is not the torn tail of the last segment is damaged.
    case corrupt(file: String, offset: Int, reason: String)
    /// The WAL holds no snapshot mark for the snapshot it is read from (etcd's ErrSnapshotNotFound).
    case snapshotNotFound(index: UInt64, term: UInt64)
    /// The mark at the snapshot's index has another term (etcd's ErrSnapshotMismatch).
    case snapshotMismatch(index: UInt64, term: UInt64, walTerm: UInt64)
    /// Two metadata records differ (etcd's ErrMetadataConflict).
    case metadataConflict(file: String)
    /// An entry skips ahead of the entries read so far (etcd's ErrSliceOutOfRange).
    case entryGap(file: String, expected: UInt64, got: UInt64)
    /// A `.snap` file cannot be used (etcd renames such files `.broken` and tries an older one).
    case badSnap(file: String, reason: String)
    /// A file-system call failed.
    case io(operation: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case let .noWAL(dir): "etcd data dir: no WAL segment in \(dir)"
        case let .badSegments(dir, detail): "etcd data dir: bad WAL segment files in \(dir): \(detail)"
        case let .corrupt(file, offset, reason): "etcd data dir: corrupt WAL record in \(file) at offset \(offset): \(reason)"
        case let .snapshotNotFound(i, t): "etcd data dir: WAL has no snapshot mark at index \(i) term \(t)"
        case let .snapshotMismatch(i, t, w):
            "etcd data dir: WAL snapshot mark at index \(i) has term \(w), the snapshot says \(t)"
        case let .metadataConflict(file): "etcd data dir: conflicting metadata records in \(file)"
        case let .entryGap(file, e, g): "etcd data dir: entry \(g) in \(file) skips ahead of \(e)"
        case let .badSnap(file, reason): "etcd data dir: unusable snap file \(file): \(reason)"
        case let .io(op, path, e): "etcd data dir: \(op) \(path) failed (errno \(e))"
        }
    }
}
