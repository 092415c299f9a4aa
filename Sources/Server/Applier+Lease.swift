import EtcdProto
import Lease

/// Lease and alarm entries (apply thread). Their bucket writes share the run's LMDB transaction.
extension Applier {
    func applyLeaseGrant(_ r: Etcdserverpb_LeaseGrantRequest, in session: ApplySession) throws(ServerError) -> ApplyResult {
        let info = try session.update { tx in try lessor.grant(id: r.id, ttl: r.ttl, in: tx) }
        var response = Etcdserverpb_LeaseGrantResponse()
        response.id = info.id
        response.ttl = info.ttl
        return .leaseGrant(response)
    }

    /// Deletes the lease's keys in one revision and the lease itself, in one commit.
    func applyLeaseRevoke(_ r: Etcdserverpb_LeaseRevokeRequest, in session: ApplySession) throws(ServerError) -> ApplyResult {
        guard let attached = lessor.timeToLive(id: r.id, keys: true) else { throw .leaseNotFound }
        let revision = try session.write { w throws(ServerError) in
            for key in attached.keys { _ = try w.deleteRange(key: key, end: []) }
            return w.hasChanges ? w.revision + 1 : w.revision
        }
        _ = try session.update { tx in try lessor.revoke(id: r.id, in: tx) }
        var response = Etcdserverpb_LeaseRevokeResponse()
        var header = Etcdserverpb_ResponseHeader()
        header.revision = revision
        response.header = header
        return .leaseRevoke(response)
    }

    /// Applies an alarm change for any member, keeping the `alarm` bucket in step.
    func applyAlarm(_ r: Etcdserverpb_AlarmRequest, in session: ApplySession) throws(ServerError) -> ApplyResult {
        var response = Etcdserverpb_AlarmResponse()
        guard r.alarm != .none else { return .alarm(response) }
        var member = Etcdserverpb_AlarmMember()
        member.memberID = r.memberID
        member.alarm = r.alarm
        let key = member.serializedBytes()
        switch r.action {
        case .activate:
            try session.update { tx in try tx.put(.alarm, key, []) }
            // Logged once, as etcd's "alarm raised": the leader's checks raise it again and again.
            if alarms.insert(member) {
                response.alarms = [member]
                logger.warning("alarm \(r.alarm == .nospace ? "NOSPACE" : "CORRUPT") raised by member \(Identity.hex(r.memberID))")
            }
        case .deactivate:
            _ = try session.update { tx in try tx.delete(.alarm, key) }
            if alarms.remove(member) { response.alarms = [member] }
        default:
            break
        }
        return .alarm(response)
    }
}
