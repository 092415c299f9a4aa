import EtcdProto

/// What the applier needs from a view of the key space (etcd's `mvcc.ReadView`). A range end is
/// passed as the client sent it: empty = the single key, "\0" = every key from `key` on.
protocol KVReader {
    /// The newest revision this view sees.
    var revision: Int64 { get }
    /// The oldest revision still readable (compacted revision + 1).
    var firstRevision: Int64 { get }
    func range(key: [UInt8], end: [UInt8], limit: Int64, revision: Int64, countOnly: Bool)
        throws(ServerError) -> KVRange
}

/// A write transaction: everything it does shares one main revision (etcd's `mvcc.TxnWrite`).
/// Its `revision` is the revision before the txn; its ranges see its own writes.
protocol KVWriter: KVReader {
    /// Writes `key`; returns the revision it was written at.
    @discardableResult
    func put(key: [UInt8], value: [UInt8], lease: Int64) throws(ServerError) -> Int64
    /// Deletes [key, end); returns how many keys were deleted.
    func deleteRange(key: [UInt8], end: [UInt8]) throws(ServerError) -> Int64
    /// Whether anything was written so far (a txn with no change does not bump the revision).
    var hasChanges: Bool { get }
    /// Whether lease `id` exists (a put naming a missing lease fails as in etcd).
    func leaseExists(_ id: Int64) -> Bool
}

struct KVRange {
    var kvs: [Mvccpb_KeyValue]
    var count: Int
    var revision: Int64
}
