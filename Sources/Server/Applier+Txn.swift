import EtcdProto

/// Txn evaluation as etcd 3.4 does it: compares (recursively through nested txns) are evaluated on
/// one view first, giving the path of branches taken; requests on that path are checked; then the
/// ops run in one write txn, so the whole txn is one revision.
extension KVApply {
    static func isReadOnly(_ t: Etcdserverpb_TxnRequest) -> Bool {
        (t.success + t.failure).allSatisfy { if case .requestRange = $0.request { true } else { false } }
    }

    /// Evaluates `t` against `view` (a read view for a read-only txn, the write txn otherwise).
    static func txn<V: KVWriter>(_ t: Etcdserverpb_TxnRequest, in txn: V) throws(ServerError)
        -> Etcdserverpb_TxnResponse
    {
        var path: [Bool] = []
        compareToPath(t, txn, &path)
        var cursor = 0
        try check(t, path, &cursor, in: txn, writes: !isReadOnly(t))
        cursor = 0
        var response = try apply(t, path, &cursor, in: txn)
        var header = Etcdserverpb_ResponseHeader()
        header.revision = txn.hasChanges ? txn.revision + 1 : txn.revision
        response.header = header
        return response
    }

    private static func compareToPath(_ t: Etcdserverpb_TxnRequest, _ view: some KVReader, _ path: inout [Bool]) {
        let succeeded = t.compare.allSatisfy { compare($0, view) }
        path.append(succeeded)
        for op in succeeded ? t.success : t.failure {
            if case .requestTxn(let nested) = op.request { compareToPath(nested, view, &path) }
        }
    }

    private static func compare(_ c: Etcdserverpb_Compare, _ view: some KVReader) -> Bool {
        guard let found = try? view.range(key: c.key, end: c.rangeEnd, limit: 0, revision: 0, countOnly: false)
        else { return false }
        // A value compare on a missing key always fails: an empty value cannot stand for "absent".
        if found.kvs.isEmpty { return c.target == .value ? false : compareKV(c, Mvccpb_KeyValue()) }
        return found.kvs.allSatisfy { compareKV(c, $0) }
    }

    private static func compareKV(_ c: Etcdserverpb_Compare, _ kv: Mvccpb_KeyValue) -> Bool {
        func order<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : (a > b ? 1 : 0) }
        let result: Int
        switch c.target {
        case .value:
            var target: [UInt8] = []
            if case .value(let v) = c.targetUnion { target = v }
            result = kv.value == target ? 0 : (kv.value.lexicographicallyPrecedes(target) ? -1 : 1)
        case .create: result = order(kv.createRevision, integerTarget(c))
        case .mod: result = order(kv.modRevision, integerTarget(c))
        case .version: result = order(kv.version, integerTarget(c))
        case .lease: result = order(kv.lease, integerTarget(c))
        default:
            return true
        }
        switch c.result {
        case .equal: return result == 0
        case .notEqual: return result != 0
        case .greater: return result > 0
        case .less: return result < 0
        default: return true
        }
    }

    /// The compare's number when its union matches its target (etcd reads 0 otherwise).
    private static func integerTarget(_ c: Etcdserverpb_Compare) -> Int64 {
        switch (c.target, c.targetUnion) {
        case (.create, .createRevision(let v)?), (.mod, .modRevision(let v)?), (.version, .version(let v)?),
             (.lease, .lease(let v)?):
            v
        default:
            0
        }
    }

    /// etcd's checkRequests with checkPut (writes only) and checkRange, along the taken path.
    private static func check(_ t: Etcdserverpb_TxnRequest, _ path: [Bool], _ cursor: inout Int,
                              in view: some KVWriter, writes: Bool) throws(ServerError)
    {
        let succeeded = path[cursor]
        cursor += 1
        for op in succeeded ? t.success : t.failure {
            switch op.request {
            case .requestTxn(let nested):
                try check(nested, path, &cursor, in: view, writes: writes)
            case .requestPut(let p) where writes:
                if p.ignoreValue || p.ignoreLease {
                    let found = try view.range(key: p.key, end: [], limit: 0, revision: 0, countOnly: false)
                    if found.kvs.isEmpty { throw .keyNotFound }
                }
                if p.lease != 0 && !view.leaseExists(p.lease) { throw .leaseNotFound }
            case .requestRange(let r):
                if r.revision > view.revision { throw .futureRevision }
                if r.revision != 0 && r.revision < view.firstRevision { throw .compacted }
            default:
                break
            }
        }
    }

    private static func apply<V: KVWriter>(_ t: Etcdserverpb_TxnRequest, _ path: [Bool], _ cursor: inout Int,
                                           in txn: V) throws(ServerError) -> Etcdserverpb_TxnResponse
    {
        let succeeded = path[cursor]
        cursor += 1
        var response = Etcdserverpb_TxnResponse()
        response.succeeded = succeeded
        response.header = Etcdserverpb_ResponseHeader()
        for op in succeeded ? t.success : t.failure {
            var out = Etcdserverpb_ResponseOp()
            switch op.request {
            case .requestRange(let r): out.response = .responseRange(try range(r, in: txn))
            case .requestPut(let p): out.response = .responsePut(try put(p, in: txn))
            case .requestDeleteRange(let d): out.response = .responseDeleteRange(try deleteRange(d, in: txn))
            case .requestTxn(let nested): out.response = .responseTxn(try apply(nested, path, &cursor, in: txn))
            case nil: break
            }
            response.responses.append(out)
        }
        return response
    }
}
