import EtcdProto
import MVCC

/// The concurrency recipes etcd's v3lock and v3election services run on the server (etcd runs
/// clientv3/concurrency against itself): keys under `name/` created with a lease, the oldest
/// creation owning the lock or the leadership, waiters watching for the deletion of the key
/// just ahead of them.
extension ServerNode {
    // MARK: Lock

    /// Acquires the lock `name` for `lease` (0: a new 60 s lease, as etcd's session grants),
    /// waiting for every older holder to go. Returns the header and the lock's key.
    public func lock(name: [UInt8], lease: Int64) async throws(ServerError) -> (Etcdserverpb_ResponseHeader, [UInt8]) {
        let lease = try await sessionLease(lease)
        let (prefix, key) = Self.sessionKey(name: name, lease: lease)
        let (header, myRevision, ownerRevision) = try await enqueue(key: key, prefix: prefix, lease: lease, value: [])
        if ownerRevision == nil || ownerRevision == myRevision { return (header, key) }
        do {
            let waited = try await waitDeletes(prefix: prefix, maxCreateRevision: myRevision - 1)
            return (waited, key)
        } catch {
            _ = try? await deleteKey(key)
            throw error
        }
    }

    public func unlock(key: [UInt8]) async throws(ServerError) -> Etcdserverpb_ResponseHeader {
        try await deleteKey(key)
    }

    // MARK: Election

    /// Campaigns in election `name` with `value`; returns once this candidate leads.
    public func campaign(name: [UInt8], lease: Int64, value: [UInt8]) async throws(ServerError)
        -> (Etcdserverpb_ResponseHeader, V3electionpb_LeaderKey)
    {
        let lease = try await sessionLease(lease)
        let (prefix, key) = Self.sessionKey(name: name, lease: lease)
        var (header, existing) = try await candidacy(key: key, lease: lease, value: value)
        var leader = V3electionpb_LeaderKey()
        leader.name = name
        leader.key = key
        leader.lease = lease
        // Already a candidate under this lease: keep that place in line, proclaiming the new value.
        leader.rev = existing?.createRevision ?? header.revision
        if let existing, existing.value != value { _ = try await proclaim(leader: leader, value: value) }
        let revision = leader.rev
        do {
            header = try await waitDeletes(prefix: prefix, maxCreateRevision: revision - 1)
        } catch {
            _ = try? await resign(leader: leader)
            throw error
        }
        return (header, leader)
    }

    public func proclaim(leader: V3electionpb_LeaderKey, value: [UInt8]) async throws(ServerError) -> Etcdserverpb_ResponseHeader {
        var put = Etcdserverpb_PutRequest()
        put.key = leader.key
        put.value = value
        put.lease = leader.lease
        let response = try await txn(compare: .createRevision(leader.key, leader.rev), success: [.requestPut(put)], failure: [])
        if !response.succeeded { throw .internal("election: not leader") }
        return response.header ?? header()
    }

    public func resign(leader: V3electionpb_LeaderKey) async throws(ServerError) -> Etcdserverpb_ResponseHeader {
        var delete = Etcdserverpb_DeleteRangeRequest()
        delete.key = leader.key
        let response = try await txn(compare: .createRevision(leader.key, leader.rev), success: [.requestDeleteRange(delete)],
                                     failure: [])
        return response.header ?? header()
    }

    /// The current leader's key-value: the oldest key of the election.
    public func electionLeader(name: [UInt8]) async throws(ServerError) -> (Etcdserverpb_ResponseHeader, Mvccpb_KeyValue) {
        let response = try await range(firstCreated(prefix: name + Array("/".utf8)))
        guard let kv = response.kvs.first else { throw .internal("election: no leader") }
        return (response.header ?? header(), kv)
    }

    /// Calls `emit` with the leader now and at every change of leader or of its value, until
    /// `emit` returns false or the task is cancelled (etcd's Election.Observe).
    public func observe(name: [UInt8], emit: (Etcdserverpb_ResponseHeader, Mvccpb_KeyValue) async throws -> Bool)
        async throws
    {
        let prefix = name + Array("/".utf8)
        while !Task.isCancelled {
            let current = try await range(firstCreated(prefix: prefix))
            var leader: Mvccpb_KeyValue
            var revision: Int64
            if let kv = current.kvs.first {
                leader = kv
                revision = current.header?.revision ?? kv.modRevision
            } else {
                // Wait for the first candidate's put.
                guard let put = try await firstEvent(key: prefix, end: Self.prefixEnd(prefix),
                                                     from: (current.header?.revision ?? 0) + 1, where: { $0.kind == .put })
                else { return }
                leader = put.kv.proto
                revision = put.kv.modRevision
            }
            var h = header(revision: revision)
            h.revision = revision
            guard try await emit(h, leader) else { return }
            // Follow the leader's key until it is deleted.
            let stream = watchable.makeStream()
            defer { stream.close() }
            guard (try? stream.watch(id: 0, key: leader.key, end: [], startRevision: revision + 1, prevKV: false,
                                     noPut: false, noDelete: false, progressNotify: false)) != nil else { return }
            followLoop: for await response in stream.responses {
                for event in response.events {
                    if event.kind == .delete { break followLoop }
                    guard try await emit(header(revision: response.revision), event.kv.proto) else { return }
                }
            }
        }
    }

    // MARK: Shared steps

    /// etcd's session: the given lease, or a new one with etcd's default session TTL of 60 s.
    private func sessionLease(_ lease: Int64) async throws(ServerError) -> Int64 {
        if lease != 0 { return lease }
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.ttl = 60
        return try await leaseGrant(grant).id
    }

    /// Puts `key` unless it exists; returns the header, this key's create revision and the
    /// oldest key's create revision (Mutex.Lock's single txn).
    private func enqueue(key: [UInt8], prefix: [UInt8], lease: Int64, value: [UInt8]) async throws(ServerError)
        -> (Etcdserverpb_ResponseHeader, Int64, Int64?)
    {
        let (put, get) = Self.claim(key: key, lease: lease, value: value)
        let owner = firstCreated(prefix: prefix)
        let response = try await txn(compare: .createRevision(key, 0), success: [.requestPut(put), .requestRange(owner)],
                                     failure: [.requestRange(get), .requestRange(owner)])
        let header = response.header ?? self.header()
        var mine = header.revision
        if !response.succeeded, case .responseRange(let r)? = response.responses.first?.response {
            mine = r.kvs.first?.createRevision ?? mine
        }
        var oldest: Int64?
        if response.responses.count > 1, case .responseRange(let r)? = response.responses[1].response {
            oldest = r.kvs.first?.createRevision
        }
        return (header, mine, oldest)
    }

    /// The election or lock prefix `name/` and this session's key under it (lease ID in hex).
    private static func sessionKey(name: [UInt8], lease: Int64) -> (prefix: [UInt8], key: [UInt8]) {
        let prefix = name + Array("/".utf8)
        return (prefix, prefix + Array(String(lease, radix: 16).utf8))
    }

    /// Campaign's txn: put the candidate's key unless it exists, else read it. Returns the header
    /// and the existing key-value, if there was one.
    private func candidacy(key: [UInt8], lease: Int64, value: [UInt8]) async throws(ServerError)
        -> (Etcdserverpb_ResponseHeader, Mvccpb_KeyValue?)
    {
        let (put, get) = Self.claim(key: key, lease: lease, value: value)
        let response = try await txn(compare: .createRevision(key, 0), success: [.requestPut(put)], failure: [.requestRange(get)])
        let header = response.header ?? self.header()
        var existing: Mvccpb_KeyValue?
        if !response.succeeded, case .responseRange(let r)? = response.responses.first?.response { existing = r.kvs.first }
        return (header, existing)
    }

    /// The put that claims `key` for `lease` and the get that reads it back when it exists.
    private static func claim(key: [UInt8], lease: Int64, value: [UInt8])
        -> (Etcdserverpb_PutRequest, Etcdserverpb_RangeRequest)
    {
        var put = Etcdserverpb_PutRequest()
        put.key = key
        put.value = value
        put.lease = lease
        var get = Etcdserverpb_RangeRequest()
        get.key = key
        return (put, get)
    }

    /// Waits until no key under `prefix` created at or before `maxCreateRevision` is left.
    private func waitDeletes(prefix: [UInt8], maxCreateRevision: Int64) async throws(ServerError) -> Etcdserverpb_ResponseHeader {
        while true {
            var newest = Etcdserverpb_RangeRequest()
            newest.key = prefix
            newest.rangeEnd = Self.prefixEnd(prefix)
            newest.sortTarget = .create
            newest.sortOrder = .descend
            newest.limit = 1
            newest.maxCreateRevision = maxCreateRevision
            let response = try await range(newest)
            guard let last = response.kvs.first else { return response.header ?? header() }
            let deleted = try await firstEvent(key: last.key, end: [], from: response.header?.revision ?? 0,
                                               where: { $0.kind == .delete })
            if deleted == nil { throw .stopped }
        }
    }

    /// The first event on [key, end) from revision `from` matching `predicate`; nil if the
    /// watch ends first (shutdown or cancellation).
    private func firstEvent(key: [UInt8], end: [UInt8], from: Int64, where predicate: (Event) -> Bool)
        async throws(ServerError) -> Event?
    {
        let stream = watchable.makeStream()
        defer { stream.close() }
        do {
            _ = try stream.watch(id: 0, key: key, end: end, startRevision: from, prevKV: false, noPut: false,
                                 noDelete: false, progressNotify: false)
        } catch {
            throw .internal("\(error)")
        }
        for await response in stream.responses {
            if Task.isCancelled { return nil }
            if response.compactRevision != 0 { throw .compacted }
            if let match = response.events.first(where: predicate) { return match }
        }
        return nil
    }

    private func deleteKey(_ key: [UInt8]) async throws(ServerError) -> Etcdserverpb_ResponseHeader {
        var delete = Etcdserverpb_DeleteRangeRequest()
        delete.key = key
        return try await deleteRange(delete).header ?? header()
    }

    private enum Condition {
        case createRevision([UInt8], Int64)
    }

    private func txn(compare: Condition, success: [Etcdserverpb_RequestOp.OneOf_Request],
                     failure: [Etcdserverpb_RequestOp.OneOf_Request]) async throws(ServerError) -> Etcdserverpb_TxnResponse
    {
        var request = Etcdserverpb_TxnRequest()
        switch compare {
        case .createRevision(let key, let revision):
            var c = Etcdserverpb_Compare()
            c.key = key
            c.target = .create
            c.result = .equal
            c.targetUnion = .createRevision(revision)
            request.compare = [c]
        }
        request.success = success.map { var op = Etcdserverpb_RequestOp(); op.request = $0; return op }
        request.failure = failure.map { var op = Etcdserverpb_RequestOp(); op.request = $0; return op }
        return try await txn(request)
    }

    /// clientv3's WithFirstCreate on a prefix.
    private func firstCreated(prefix: [UInt8]) -> Etcdserverpb_RangeRequest {
        var r = Etcdserverpb_RangeRequest()
        r.key = prefix
        r.rangeEnd = Self.prefixEnd(prefix)
        r.sortTarget = .create
        r.sortOrder = .ascend
        r.limit = 1
        return r
    }

    /// The end of the range of keys starting with `prefix` (clientv3's GetPrefixRangeEnd).
    static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }
}
