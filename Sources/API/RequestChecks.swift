import EtcdProto
import Server

/// Checks done before a request reaches the server, as etcd's v3rpc layer does them
/// (`etcdserver/api/v3rpc/key.go`): the same order, so the same error wins.
enum RequestChecks {
    static func check(_ r: Etcdserverpb_RangeRequest) throws(ServerError) {
        if r.key.isEmpty { throw .emptyKey }
    }

    static func check(_ r: Etcdserverpb_PutRequest) throws(ServerError) {
        if r.key.isEmpty { throw .emptyKey }
        if r.ignoreValue && !r.value.isEmpty { throw .valueProvided }
        if r.ignoreLease && r.lease != 0 { throw .leaseProvided }
    }

    static func check(_ r: Etcdserverpb_DeleteRangeRequest) throws(ServerError) {
        if r.key.isEmpty { throw .emptyKey }
    }

    /// Checks a whole txn: op count, every op, then that no key is written twice.
    static func check(_ r: Etcdserverpb_TxnRequest, maxTxnOps: Int) throws(ServerError) {
        try checkOps(r, maxTxnOps: maxTxnOps)
        _ = try WriteSet(r.success)
        _ = try WriteSet(r.failure)
    }

    private static func checkOps(_ r: Etcdserverpb_TxnRequest, maxTxnOps: Int) throws(ServerError) {
        let opCount = max(r.compare.count, r.success.count, r.failure.count)
        if opCount > maxTxnOps { throw .tooManyOps }
        for c in r.compare where c.key.isEmpty { throw .emptyKey }
        for op in r.success + r.failure {
            switch op.request {
            case .requestRange(let x): try check(x)
            case .requestPut(let x): try check(x)
            case .requestDeleteRange(let x): try check(x)
            case .requestTxn(let x): try checkOps(x, maxTxnOps: maxTxnOps - opCount)
            case nil: throw .keyNotFound
            }
        }
    }
}

/// The keys a list of txn ops puts and the ranges it deletes, used to refuse a txn that writes one
/// key twice. Ranges compare as etcd's "affine" string intervals: an empty end is +infinity.
struct WriteSet {
    var puts: Set<[UInt8]> = []
    var deletes: [(begin: [UInt8], end: [UInt8])] = []

    /// `ops` is one branch of a txn. The two branches of a nested txn are exclusive, so one key may
    /// be put in both.
    init(_ ops: [Etcdserverpb_RequestOp]) throws(ServerError) {
        for op in ops {
            if case .requestDeleteRange(let d) = op.request {
                deletes.append(d.rangeEnd.isEmpty ? (d.key, d.key + [0]) : (d.key, d.rangeEnd))
            }
        }
        for op in ops {
            guard case .requestTxn(let t) = op.request else { continue }
            let then = try WriteSet(t.success)
            let otherwise = try WriteSet(t.failure)
            for k in then.puts {
                if puts.contains(k) || deletesCover(k) { throw .duplicateKey }
                puts.insert(k)
            }
            for k in otherwise.puts {
                if puts.contains(k) && !then.puts.contains(k) { throw .duplicateKey }
                if deletesCover(k) { throw .duplicateKey }
                puts.insert(k)
            }
            deletes += then.deletes + otherwise.deletes
        }
        for op in ops {
            guard case .requestPut(let p) = op.request else { continue }
            if puts.contains(p.key) || deletesCover(p.key) { throw .duplicateKey }
            puts.insert(p.key)
        }
    }

    private func deletesCover(_ key: [UInt8]) -> Bool {
        deletes.contains { Self.affineLess($0.begin, key + [0]) && Self.affineLess(key, $0.end) }
    }

    /// `a < b` where the empty string stands for +infinity.
    static func affineLess(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        if b.isEmpty { return !a.isEmpty }
        if a.isEmpty { return false }
        return a.lexicographicallyPrecedes(b)
    }
}
