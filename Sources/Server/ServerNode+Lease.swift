import EtcdProto
import Lease

/// The Lease service's calls (etcd's `v3_server.go` Lease*) and the expiry of leases: grant and
/// revoke go through the log; keepalives, time-to-live and listing are answered by the lessor.
extension ServerNode {
    public func leaseGrant(_ r: Etcdserverpb_LeaseGrantRequest) async throws(ServerError) -> Etcdserverpb_LeaseGrantResponse {
        try await checkQuota(cost: Self.leaseOverhead)
        var request = r
        // etcd picks a positive ID when the client leaves it 0.
        while request.id <= 0 { request.id = Int64(bitPattern: nextID() & (UInt64(1) << 63 - 1)) }
        let granted = request
        guard case .leaseGrant(var response) = try await propose({ $0.leaseGrant = granted })
        else { throw .internal("unexpected result") }
        response.header = header()
        return response
    }

    public func leaseRevoke(_ r: Etcdserverpb_LeaseRevokeRequest) async throws(ServerError) -> Etcdserverpb_LeaseRevokeResponse {
        guard case .leaseRevoke(var response) = try await propose({ $0.leaseRevoke = r })
        else { throw .internal("unexpected result") }
        response.header = fill(response.header)
        return response
    }

    /// A keepalive: the lease's TTL, or 0 when it does not exist (etcd answers so, no error).
    public func leaseRenew(id: Int64) -> Etcdserverpb_LeaseKeepAliveResponse {
        var response = Etcdserverpb_LeaseKeepAliveResponse()
        response.header = header()
        response.id = id
        response.ttl = (try? lessor.renew(id: id)) ?? 0
        return response
    }

    /// TTL -1 when the lease does not exist, as etcd's v3rpc answers.
    public func leaseTimeToLive(_ r: Etcdserverpb_LeaseTimeToLiveRequest) -> Etcdserverpb_LeaseTimeToLiveResponse {
        var response = Etcdserverpb_LeaseTimeToLiveResponse()
        response.header = header()
        response.id = r.id
        if let t = lessor.timeToLive(id: r.id, keys: r.keys) {
            response.ttl = t.remainingTTL
            response.grantedTtl = t.grantedTTL
            response.keys = t.keys
        } else {
            response.ttl = -1
        }
        return response
    }

    public func leaseLeases() -> Etcdserverpb_LeaseLeasesResponse {
        var response = Etcdserverpb_LeaseLeasesResponse()
        response.header = header()
        response.leases = lessor.leases().map {
            var status = Etcdserverpb_LeaseStatus()
            status.id = $0
            return status
        }
        return response
    }

    /// Revokes expired leases through the log, as the leader does in etcd (at most 500 every
    /// half second, etcd's revoke rate).
    func startLeaseExpiry() {
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                guard let self else { return }
                for id in self.lessor.expiredLeases(limit: Lessor.revokeRate / 2) {
                    var revoke = Etcdserverpb_LeaseRevokeRequest()
                    revoke.id = id
                    _ = try? await self.propose { $0.leaseRevoke = revoke }
                }
            }
        }
        leaseExpiry.withLock { $0 = task }
    }

    // MARK: Apply (apply thread)

    func applyLeaseGrant(_ r: Etcdserverpb_LeaseGrantRequest, in session: ApplySession) throws(ServerError) -> ApplyResult {
        try session.flush()
        do {
            let info = try lessor.grant(id: r.id, ttl: r.ttl)
            var response = Etcdserverpb_LeaseGrantResponse()
            response.id = info.id
            response.ttl = info.ttl
            return .leaseGrant(response)
        } catch {
            throw ServerError(lease: error)
        }
    }

    /// Deletes the lease's keys in one revision, then the lease. In that order a crash between the
    /// two replays cleanly: the keys are gone, so the replayed revoke deletes only the lease.
    func applyLeaseRevoke(_ r: Etcdserverpb_LeaseRevokeRequest, in session: ApplySession) throws(ServerError) -> ApplyResult {
        guard let attached = lessor.timeToLive(id: r.id, keys: true) else { throw .leaseNotFound }
        let revision = try session.write { w throws(ServerError) in
            for key in attached.keys { _ = try w.deleteRange(key: key, end: []) }
            return w.hasChanges ? w.revision + 1 : w.revision
        }
        try session.flush()
        do { _ = try lessor.revoke(id: r.id) } catch { throw ServerError(lease: error) }
        var response = Etcdserverpb_LeaseRevokeResponse()
        var header = Etcdserverpb_ResponseHeader()
        header.revision = revision
        response.header = header
        return .leaseRevoke(response)
    }
}

extension ServerError {
    init(lease error: LeaseError) {
        switch error {
        case .leaseNotFound: self = .leaseNotFound
        case .leaseExists: self = .leaseExists
        case .ttlTooLarge: self = .leaseTTLTooLarge
        case .storage(.mapFull): self = .noSpace
        case .storage(let e): self = .internal("etcdserver: \(e)")
        }
    }
}
