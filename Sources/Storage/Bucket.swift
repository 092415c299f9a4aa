/// The LMDB named databases, one per bucket of etcd's bbolt file. Names live here and only here.
public enum Bucket: Int, CaseIterable, Sendable {
    case key, meta, lease, auth, authUsers, authRoles, members, membersRemoved, cluster, alarm

    /// The database name, spelled as etcd spells its bucket.
    public var name: String {
        switch self {
        case .key: "key"
        case .meta: "meta"
        case .lease: "lease"
        case .auth: "auth"
        case .authUsers: "authUsers"
        case .authRoles: "authRoles"
        case .members: "members"
        case .membersRemoved: "members_removed"
        case .cluster: "cluster"
        case .alarm: "alarm"
        }
    }
}

/// Errors from the LMDB backend.
public enum StorageError: Error, Equatable, CustomStringConvertible {
    /// The LMDB map (sized from the backend quota) is full: the write transaction was aborted.
    /// The server maps this to etcd's NOSPACE alarm.
    case mapFull
    /// Any other LMDB failure: the call that failed, LMDB's code and its message.
    case lmdb(operation: String, code: Int32, message: String)
    /// A file-system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// The file at `path` is not a backend copy that `Backend.replaceContents(withCopyAt:)` can
    /// install (not an LMDB environment, truncated, or missing a bucket): `reason` says which.
    case invalidCopy(path: String, reason: String)

    public var description: String {
        switch self {
        case .mapFull: "storage: database space exceeded (LMDB map full)"
        case let .lmdb(op, code, msg): "storage: \(op) failed: \(msg) (\(code))"
        case let .io(op, path, e): "storage: \(op) \(path) failed: \(errnoString(e)) (errno \(e))"
        case let .invalidCopy(path, reason): "storage: \(path) is not a valid backend copy: \(reason)"
        }
    }
}
