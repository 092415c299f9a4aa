import Auth
import EtcdProto
import Lease

/// The KV, Maintenance and Cluster calls, as etcd's `v3_server.go` serves them: reads locally,
/// writes (and read-write txns) through the pipeline.
extension ServerNode {
    /// A serializable read is answered from the local store; a linearizable one first waits for
    /// a ReadIndex round and for the applier to reach its index.
    public func range(_ r: Etcdserverpb_RangeRequest) async throws(ServerError) -> Etcdserverpb_RangeResponse {
        if !r.serializable {
            if isLearner { throw .notSupportedForLearner }
            try await linearizableBarrier()
        }
        let info = try await authorizeRead { info throws(AuthError) in try auth.checkRange(info, key: r.key, rangeEnd: r.rangeEnd) }
        var response = try storage.withReadView { view throws(ServerError) in try KVApply.range(r, in: view) }
        try checkStale(info)
        response.header = fill(response.header)
        return response
    }

    public func put(_ r: Etcdserverpb_PutRequest) async throws(ServerError) -> Etcdserverpb_PutResponse {
        try await checkQuota(cost: Self.cost(r))
        guard case .put(var response) = try await propose({ $0.put = r }) else { throw .internal("unexpected result") }
        response.header = fill(response.header)
        return response
    }

    public func deleteRange(_ r: Etcdserverpb_DeleteRangeRequest) async throws(ServerError)
        -> Etcdserverpb_DeleteRangeResponse
    {
        guard case .deleteRange(var response) = try await propose({ $0.deleteRange = r })
        else { throw .internal("unexpected result") }
        response.header = fill(response.header)
        return response
    }

    public func txn(_ r: Etcdserverpb_TxnRequest) async throws(ServerError) -> Etcdserverpb_TxnResponse {
        var response: Etcdserverpb_TxnResponse
        if KVApply.isReadOnly(r) {
            if !Self.isSerializable(r) { try await linearizableBarrier() }
            let info = try await authorizeRead { info throws(AuthError) in try checkTxnAuth(auth, info, r) }
            response = try storage.withReadView { view throws(ServerError) in
                try KVApply.txn(r, in: ReadOnlyWriter(base: view, lessor: lessor))
            }
            try checkStale(info)
        } else {
            try await checkQuota(cost: Self.cost(r))
            guard case .txn(let applied) = try await propose({ $0.txn = r }) else { throw .internal("unexpected result") }
            response = applied
        }
        response.header = fill(response.header)
        return response
    }

    public func compact(_ r: Etcdserverpb_CompactionRequest) async throws(ServerError) -> Etcdserverpb_CompactionResponse {
        guard case .compaction(var response) = try await propose({ $0.compaction = r })
        else { throw .internal("unexpected result") }
        response.header = fill(response.header)
        return response
    }

    public func status() -> Etcdserverpb_StatusResponse {
        var response = Etcdserverpb_StatusResponse()
        response.header = header()
        response.version = Self.version
        response.dbSize = storage.dbSize
        response.dbSizeInUse = storage.dbSizeInUse
        let raft = driver.status.withLock { $0 }
        response.leader = raft.leader
        response.raftIndex = raft.committed
        response.raftTerm = raft.term
        response.raftAppliedIndex = applier.appliedIndex
        response.isLearner = membership.member(memberID)?.isLearner ?? false
        response.errors = alarmMembers().map { "memberID:\($0.memberID) alarm:\($0.alarm == .nospace ? "NOSPACE" : "CORRUPT")" }
        return response
    }

    public func memberList() -> Etcdserverpb_MemberListResponse {
        var response = Etcdserverpb_MemberListResponse()
        response.header = header()
        response.members = membership.members.map(\.proto)
        return response
    }

    public func hashKV(revision: Int64) throws(ServerError) -> Etcdserverpb_HashKVResponse {
        let result = try storage.hashKV(revision: revision)
        var response = Etcdserverpb_HashKVResponse()
        response.header = header(revision: result.revision)
        response.hash = result.hash
        response.compactRevision = result.compactRevision
        return response
    }

    public func hash() throws(ServerError) -> Etcdserverpb_HashResponse {
        var response = Etcdserverpb_HashResponse()
        response.header = header()
        response.hash = try storage.hash()
        return response
    }

    /// etcd's isTxnSerializable: every range in the txn (both branches) is serializable.
    static func isSerializable(_ t: Etcdserverpb_TxnRequest) -> Bool {
        for op in t.success + t.failure {
            if case .requestRange(let r) = op.request, !r.serializable { return false }
            if case .requestTxn(let nested) = op.request, !isSerializable(nested) { return false }
        }
        return true
    }
}

/// A read view standing in for a write txn in a read-only txn (etcd's `NewReadOnlyTxnWrite`):
/// a txn found read-only never writes, so the write methods are unreachable.
struct ReadOnlyWriter<Base: KVReader>: KVWriter {
    let base: Base
    let lessor: Lessor
    func leaseExists(_ id: Int64) -> Bool { lessor.lookup(id: id) != nil }
    var revision: Int64 { base.revision }
    var firstRevision: Int64 { base.firstRevision }
    var hasChanges: Bool { false }

    func range(key: [UInt8], end: [UInt8], limit: Int64, revision: Int64, countOnly: Bool) throws(ServerError) -> KVRange {
        try base.range(key: key, end: end, limit: limit, revision: revision, countOnly: countOnly)
    }

    func put(key: [UInt8], value: [UInt8], lease: Int64) throws(ServerError) -> Int64 {
        preconditionFailure("write in a read-only txn")
    }

    func deleteRange(key: [UInt8], end: [UInt8]) throws(ServerError) -> Int64 {
        preconditionFailure("write in a read-only txn")
    }
}
