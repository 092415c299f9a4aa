import Storage

/// MVCC errors. `compacted` and `futureRev` carry etcd's messages (the API maps them to
/// ErrCompacted / ErrFutureRev).
public enum MVCCError: Error, Equatable, CustomStringConvertible {
    /// The revision asked for has been compacted away.
    case compacted
    /// The revision asked for is newer than the store's current revision.
    case futureRev
    /// Stored data could not be decoded.
    case corrupt(String)
    /// The backend failed (`.storage(.mapFull)` means out of space).
    case storage(StorageError)

    public var description: String {
        switch self {
        case .compacted: "mvcc: required revision has been compacted"
        case .futureRev: "mvcc: required revision is a future revision"
        case let .corrupt(m): "mvcc: corrupt store: \(m)"
        case let .storage(e): e.description
        }
    }
}

/// Runs a backend call, wrapping its error.
@inline(__always)
func storage<R>(_ body: () throws -> R) throws(MVCCError) -> R {
    do { return try body() } catch let e as StorageError { throw .storage(e) } catch let e as MVCCError { throw e } catch {
        throw .corrupt("\(error)")
    }
}
