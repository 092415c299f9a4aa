import EtcdProto
import Storage

/// Alarms and the backend quota, as etcd 3.4 keeps them (`etcdserver/quota.go`, `alarm/`): a
/// write that would take the backend past `--quota-backend-bytes` raises NOSPACE through the log
/// and fails; while NOSPACE is raised, puts, write txns and lease grants fail; `/health` reports
/// false; `etcdctl alarm disarm` (after compaction and defragmentation) clears it.
extension ServerNode {
    /// etcd's estimates of what a write adds to the backend.
    static let keyValueOverhead = 256
    static let leaseOverhead = 64

    var quotaBytes: Int64 {
        Int64(options.quotaBackendBytes > 0 ? options.quotaBackendBytes : Backend.defaultQuotaBytes)
    }

    /// Refuses a write of `cost` bytes when NOSPACE is raised or the write would exceed the
    /// quota; in the second case raises the alarm first, as etcd's quota check does.
    func checkQuota(cost: Int) async throws(ServerError) {
        guard cost > 0 else { return }
        if alarms.withLock({ $0.contains(.nospace) }) { throw .noSpace }
        // The file size is an upper bound of what is in use; only near the quota count free pages.
        let quota = quotaBytes
        if backendSize.load(ordering: .relaxed) + Int64(cost) < quota || storage.dbSizeInUse + Int64(cost) < quota {
            return
        }
        var alarm = Etcdserverpb_AlarmRequest()
        alarm.action = .activate
        alarm.memberID = memberID
        alarm.alarm = .nospace
        _ = try? await propose { $0.alarm = alarm }
        throw .noSpace
    }

    static func cost(_ p: Etcdserverpb_PutRequest) -> Int { keyValueOverhead + p.key.count + p.value.count }

    static func cost(_ t: Etcdserverpb_TxnRequest) -> Int {
        func branch(_ ops: [Etcdserverpb_RequestOp]) -> Int {
            ops.reduce(0) { sum, op in if case .requestPut(let p) = op.request { sum + cost(p) } else { sum } }
        }
        return max(branch(t.success), branch(t.failure))
    }

    /// Maintenance.Alarm: GET lists; ACTIVATE / DEACTIVATE go through the log.
    /// As in etcd, ACTIVATE and DEACTIVATE answer with the alarm they changed (none if nothing
    /// changed), GET with every alarm.
    public func alarm(_ r: Etcdserverpb_AlarmRequest) async throws(ServerError) -> Etcdserverpb_AlarmResponse {
        var response = Etcdserverpb_AlarmResponse()
        if r.action == .get {
            response.alarms = alarmMembers()
        } else if case .alarm(let changed) = try await propose({ $0.alarm = r }) {
            response = changed
        }
        response.header = header()
        return response
    }

    func alarmMembers() -> [Etcdserverpb_AlarmMember] {
        alarms.withLock { $0 }.sorted { $0.rawValue < $1.rawValue }.map {
            var member = Etcdserverpb_AlarmMember()
            member.memberID = memberID
            member.alarm = $0
            return member
        }
    }

    /// Applies an alarm change (apply thread), keeping the `alarm` bucket in step.
    func applyAlarm(_ r: Etcdserverpb_AlarmRequest, in session: ApplySession) throws(ServerError) -> ApplyResult {
        var response = Etcdserverpb_AlarmResponse()
        guard r.memberID == memberID, r.alarm != .none else { return .alarm(response) }
        var member = Etcdserverpb_AlarmMember()
        member.memberID = r.memberID
        member.alarm = r.alarm
        let key = member.serializedBytes()
        try session.flush()
        do {
            switch r.action {
            case .activate:
                try storage.backend.update { tx in try tx.put(.alarm, key, []) }
                alarms.withLock { _ = $0.insert(r.alarm) }
                response.alarms = [member]
                logger.warning("alarm \(r.alarm == .nospace ? "NOSPACE" : "CORRUPT") raised by member \(Identity.hex(memberID))")
            case .deactivate:
                _ = try storage.backend.update { tx in try tx.delete(.alarm, key) }
                if alarms.withLock({ $0.remove(r.alarm) }) != nil { response.alarms = [member] }
            default:
                break
            }
        } catch {
            throw ServerError(error)
        }
        return .alarm(response)
    }

    /// The alarms stored in the backend (start-up).
    static func loadAlarms(_ backend: Backend, memberID: UInt64) throws -> Set<Etcdserverpb_AlarmType> {
        var found: Set<Etcdserverpb_AlarmType> = []
        let tx = try backend.read()
        defer { tx.end() }
        try tx.forEach(.alarm) { key, _ in
            if let member = try? Etcdserverpb_AlarmMember(serializedBytes: key), member.memberID == memberID {
                found.insert(member.alarm)
            }
            return true
        }
        return found
    }
}
