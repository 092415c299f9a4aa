import EtcdProto

/// Applying KV requests to a view of the key space, with etcd 3.4's semantics
/// (`etcdserver/apply.go`): range sorting and filters, put with ignore_value / ignore_lease,
/// delete with prev_kv, and txns whose compares are evaluated before any op runs.
enum KVApply {
    static func range(_ r: Etcdserverpb_RangeRequest, in view: some KVReader) throws(ServerError)
        -> Etcdserverpb_RangeResponse
    {
        let filtered = r.minModRevision != 0 || r.maxModRevision != 0 || r.minCreateRevision != 0
            || r.maxCreateRevision != 0
        var limit = (r.sortOrder != .none || filtered) ? 0 : r.limit
        if limit > 0 { limit += 1 }  // one more tells whether there is more
        var result = try view.range(key: r.key, end: r.rangeEnd, limit: limit, revision: r.revision,
                                    countOnly: r.countOnly)
        if r.maxModRevision != 0 { result.kvs.removeAll { $0.modRevision > r.maxModRevision } }
        if r.minModRevision != 0 { result.kvs.removeAll { $0.modRevision < r.minModRevision } }
        if r.maxCreateRevision != 0 { result.kvs.removeAll { $0.createRevision > r.maxCreateRevision } }
        if r.minCreateRevision != 0 { result.kvs.removeAll { $0.createRevision < r.minCreateRevision } }

        var order = r.sortOrder
        // Results come in key order already; any other target sorts ascending by default.
        if r.sortTarget != .key && order == .none { order = .ascend }
        if order != .none { sort(&result.kvs, by: r.sortTarget, descending: order == .descend) }

        var response = Etcdserverpb_RangeResponse()
        if r.limit > 0 && result.kvs.count > Int(r.limit) {
            result.kvs.removeSubrange(Int(r.limit)...)
            response.more = true
        }
        if r.keysOnly {
            for i in result.kvs.indices { result.kvs[i].value = [] }
        }
        var header = Etcdserverpb_ResponseHeader()
        header.revision = result.revision
        response.header = header
        response.count = Int64(result.count)
        response.kvs = result.kvs
        return response
    }

    private static func sort(_ kvs: inout [Mvccpb_KeyValue], by target: Etcdserverpb_RangeRequest.SortTarget,
                             descending: Bool)
    {
        func less(_ a: Mvccpb_KeyValue, _ b: Mvccpb_KeyValue) -> Bool {
            switch target {
            case .version: a.version < b.version
            case .create: a.createRevision < b.createRevision
            case .mod: a.modRevision < b.modRevision
            case .value: a.value.lexicographicallyPrecedes(b.value)
            default: a.key.lexicographicallyPrecedes(b.key)
            }
        }
        // Stable, like Go's sort.Stable used by etcd, so equal elements keep key order.
        let indexed = kvs.enumerated().sorted { x, y in
            if descending { return less(y.element, x.element) || (!less(x.element, y.element) && x.offset < y.offset) }
            return less(x.element, y.element) || (!less(y.element, x.element) && x.offset < y.offset)
        }
        kvs = indexed.map(\.element)
    }

    static func put(_ p: Etcdserverpb_PutRequest, in txn: some KVWriter) throws(ServerError)
        -> Etcdserverpb_PutResponse
    {
        var prev: Mvccpb_KeyValue?
        if p.ignoreValue || p.ignoreLease || p.prevKv {
            prev = try txn.range(key: p.key, end: [], limit: 0, revision: 0, countOnly: false).kvs.first
        }
        if (p.ignoreValue || p.ignoreLease) && prev == nil { throw .keyNotFound }
        let value = p.ignoreValue ? prev!.value : p.value
        let lease = p.ignoreLease ? prev!.lease : p.lease
        if !p.ignoreLease && lease != 0 && !txn.leaseExists(lease) { throw .leaseNotFound }
        var response = Etcdserverpb_PutResponse()
        var header = Etcdserverpb_ResponseHeader()
        header.revision = try txn.put(key: p.key, value: value, lease: lease)
        response.header = header
        if p.prevKv { response.prevKv = prev }
        return response
    }

    static func deleteRange(_ d: Etcdserverpb_DeleteRangeRequest, in txn: some KVWriter) throws(ServerError)
        -> Etcdserverpb_DeleteRangeResponse
    {
        var response = Etcdserverpb_DeleteRangeResponse()
        if d.prevKv {
            response.prevKvs = try txn.range(key: d.key, end: d.rangeEnd, limit: 0, revision: 0, countOnly: false).kvs
        }
        response.deleted = try txn.deleteRange(key: d.key, end: d.rangeEnd)
        var header = Etcdserverpb_ResponseHeader()
        header.revision = txn.hasChanges ? txn.revision + 1 : txn.revision
        response.header = header
        return response
    }
}
