import EtcdProto
import Foundation
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

    /// A keepalive: renewed by the leader's lessor (forwarded to it over the peer port from a
    /// follower, as etcd does); TTL 0 when the lease does not exist (etcd answers so, no error).
    public func leaseRenew(id: Int64) async throws(ServerError) -> Etcdserverpb_LeaseKeepAliveResponse {
        var response = Etcdserverpb_LeaseKeepAliveResponse()
        response.id = id
        var request = Etcdserverpb_LeaseKeepAliveRequest()
        request.id = id
        if !lessor.isPrimary, let answer = try await forwardToLeader(path: "/leases", body: request.serializedBytes()) {
            switch answer.status {
            case 200:
                response.ttl = (try? Etcdserverpb_LeaseKeepAliveResponse(serializedBytes: answer.body))?.ttl ?? 0
            case 404: response.ttl = 0
            default: throw .internal(String(decoding: answer.body, as: UTF8.self))
            }
        } else {
            response.ttl = (try? lessor.renew(id: id)) ?? 0
        }
        response.header = header()
        return response
    }

    /// TTL -1 when the lease does not exist, as etcd's v3rpc answers. A follower asks the leader,
    /// whose lessor counts the lease down.
    public func leaseTimeToLive(_ r: Etcdserverpb_LeaseTimeToLiveRequest) async throws(ServerError)
        -> Etcdserverpb_LeaseTimeToLiveResponse
    {
        var response = Etcdserverpb_LeaseTimeToLiveResponse()
        response.id = r.id
        response.ttl = -1
        var request = Leasepb_LeaseInternalRequest()
        request.leaseTimeToLiveRequest = r
        if !isLeader, let answer = try await forwardToLeader(path: "/leases/internal", body: request.serializedBytes()) {
            switch answer.status {
            case 200:
                if let forwarded = (try? Leasepb_LeaseInternalResponse(serializedBytes: answer.body))?.leaseTimeToLiveResponse {
                    response = forwarded
                }
            case 404: break
            default: throw .internal(String(decoding: answer.body, as: UTF8.self))
            }
        } else if let t = lessor.timeToLive(id: r.id, keys: r.keys) {
            response.ttl = t.remainingTTL
            response.grantedTtl = t.grantedTTL
            response.keys = t.keys
        }
        response.header = header()
        return response
    }

    /// Posts to the leader's peer port until it answers or the request times out (etcd retries
    /// every 50 ms while waiting for a leader). nil when this member became the leader meanwhile.
    private func forwardToLeader(path: String, body: [UInt8]) async throws(ServerError) -> (status: Int, body: [UInt8])? {
        let deadline = ContinuousClock.now + options.requestTimeout
        while ContinuousClock.now < deadline {
            let leaderID = leader
            if leaderID == memberID { return nil }
            if leaderID != 0, let urls = membership.member(leaderID)?.peerURLs, let poster = peerPoster.withLock({ $0 }) {
                if let answer = await poster.post(urls: urls, path: path, body: body, timeout: deadline - .now),
                   answer.status != 400  // "not a primary lessor": leadership is moving
                {
                    return answer
                }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        throw leader == 0 ? .noLeader : .timeout
    }

    /// The leader's side of `/leases` and `/leases/internal` (etcd's leasehttp handler).
    public func answerLeaseRequest(path: String, body: [UInt8]) async -> (status: Int, body: [UInt8]) {
        // Renewing before applying what was committed could renew a lease already revoked.
        let committed = driver.status.withLock { $0.committed }
        let caughtUp = applier.appliedIndex >= committed ? true : await withTaskGroup(of: Bool.self) { group -> Bool in
            group.addTask { [applier] in
                await applier.waitApplied(committed)
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(1))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !caughtUp { return (408, Array("waiting for node to catch up its applied index has timed out".utf8)) }
        guard lessor.isPrimary else { return (400, Array("not a primary lessor".utf8)) }
        switch path {
        case "/leases":
            guard let request = try? Etcdserverpb_LeaseKeepAliveRequest(serializedBytes: body) else {
                return (400, Array("error unmarshalling request".utf8))
            }
            guard let ttl = try? lessor.renew(id: request.id) else { return (404, Array("lease not found".utf8)) }
            var response = Etcdserverpb_LeaseKeepAliveResponse()
            response.id = request.id
            response.ttl = ttl
            return (200, response.serializedBytes())
        case "/leases/internal":
            guard let request = try? Leasepb_LeaseInternalRequest(serializedBytes: body),
                  let r = request.leaseTimeToLiveRequest
            else { return (400, Array("error unmarshalling request".utf8)) }
            guard let t = lessor.timeToLive(id: r.id, keys: r.keys) else { return (404, Array("lease not found".utf8)) }
            var inner = Etcdserverpb_LeaseTimeToLiveResponse()
            inner.header = header()
            inner.id = r.id
            inner.ttl = t.remainingTTL
            inner.grantedTtl = t.grantedTTL
            inner.keys = t.keys
            var response = Leasepb_LeaseInternalResponse()
            response.leaseTimeToLiveResponse = inner
            return (200, response.serializedBytes())
        default:
            return (404, Array("404 page not found".utf8))
        }
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
                    // With root rights, as etcd's WithRoot: the lease's keys may be anyone's.
                    _ = try? await RequestCredentials.$current.withValue(.root) {
                        try await self.propose { $0.leaseRevoke = revoke }
                    }
                }
            }
        }
        leaseExpiry.withLock { $0 = task }
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
