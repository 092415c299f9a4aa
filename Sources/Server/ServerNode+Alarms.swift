import EtcdProto
import Storage
import Synchronization

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
        if alarms.contains(.nospace) { throw .noSpace }
        // The file size is an upper bound of what is in use; only near the quota count free pages.
        let quota = quotaBytes
        if storage.cachedBackendSize + Int64(cost) < quota || storage.dbSizeInUse + Int64(cost) < quota {
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
    /// changed), GET with every alarm; etcd's answer carries no response header.
    public func alarm(_ r: Etcdserverpb_AlarmRequest) async throws(ServerError) -> Etcdserverpb_AlarmResponse {
        var response = Etcdserverpb_AlarmResponse()
        if r.action == .get {
            response.alarms = alarmMembers()
        } else if case .alarm(let changed) = try await propose({ $0.alarm = r }) {
            response = changed
        }
        return response
    }

    func alarmMembers() -> [Etcdserverpb_AlarmMember] { alarms.all }
}

/// The raised alarms of every member, as the `alarm` bucket holds them. Written by the applier.
final class AlarmSet: Sendable {
    private struct Key: Hashable {
        var member: UInt64
        var alarm: Int32
    }

    private let raised: Mutex<Set<Key>>

    init(backend: Backend) throws {
        raised = Mutex(try Self.load(backend))
    }

    /// Reads the alarms again after the backend was replaced by a snapshot.
    func reload(_ backend: Backend) throws {
        let loaded = try Self.load(backend)
        raised.withLock { $0 = loaded }
    }

    private static func load(_ backend: Backend) throws -> Set<Key> {
        var found: Set<Key> = []
        let tx = try backend.read()
        defer { tx.end() }
        try tx.forEach(.alarm) { key, _ in
            if let m = try? Etcdserverpb_AlarmMember(serializedBytes: key) {
                found.insert(Key(member: m.memberID, alarm: m.alarm.rawValue))
            }
            return true
        }
        return found
    }

    var isEmpty: Bool { raised.withLock { $0.isEmpty } }

    func contains(_ alarm: Etcdserverpb_AlarmType) -> Bool {
        raised.withLock { $0.contains { $0.alarm == alarm.rawValue } }
    }

    /// Every raised alarm, ordered by member then type.
    var all: [Etcdserverpb_AlarmMember] {
        raised.withLock { $0 }.sorted { ($0.member, $0.alarm) < ($1.member, $1.alarm) }.map {
            var m = Etcdserverpb_AlarmMember()
            m.memberID = $0.member
            m.alarm = Etcdserverpb_AlarmType(rawValue: $0.alarm)
            return m
        }
    }

    /// True when the alarm was not raised before.
    func insert(_ m: Etcdserverpb_AlarmMember) -> Bool {
        raised.withLock { $0.insert(Key(member: m.memberID, alarm: m.alarm.rawValue)).inserted }
    }

    /// True when the alarm was raised.
    func remove(_ m: Etcdserverpb_AlarmMember) -> Bool {
        raised.withLock { $0.remove(Key(member: m.memberID, alarm: m.alarm.rawValue)) != nil }
    }
}
