import EtcdMetrics
import EtcdProto
import Foundation
import Synchronization

/// Proposals waiting to be applied, keyed by request id (the `ID` field of the entry's
/// `InternalRaftRequest`). Entries applied on any member complete a waiter only on the member
/// that proposed them. Every waiter has a deadline: nothing waits forever.
final class ProposalRegistry: Sendable {
    struct Waiter: Sendable {
        /// The decoded request, so the proposing member applies it without decoding it again.
        var request: Etcdserverpb_InternalRaftRequest
        var deadline: ContinuousClock.Instant
        var completion: @Sendable (ApplyResult) -> Void
        /// A membership change still applies after a leader change once committed; etcd's
        /// configure waits for it (or the timeout) rather than answering "leader changed".
        var survivesLeaderChange = false
    }

    private let waiters = Mutex<[UInt64: Waiter]>([:])

    var count: Int { waiters.withLock { $0.count } }

    func register(id: UInt64, _ waiter: Waiter) {
        waiters.withLock { $0[id] = waiter }
    }

    /// Removes and returns the waiter of `id` (the applier, as it applies the entry).
    func take(_ id: UInt64) -> Waiter? {
        waiters.withLock { $0.removeValue(forKey: id) }
    }

    /// Answers `id` with `error` if it still waits.
    func fail(_ id: UInt64, _ error: ServerError) {
        guard let waiter = take(id) else { return }
        Meters.proposalsFailed.increment()
        waiter.completion(.failure(error))
    }

    /// Answers every waiter with `error` (stop).
    func failAll(_ error: ServerError) {
        let all = waiters.withLock { w in defer { w.removeAll() }; return w }
        for (_, w) in all { w.completion(.failure(error)) }
    }

    /// Answers "leader changed" to every waiter but those that outlive a leader change.
    func failOnLeaderChange() {
        let due = waiters.withLock { w -> [Waiter] in
            let ids = w.filter { !$0.value.survivesLeaderChange }.map(\.key)
            return ids.compactMap { w.removeValue(forKey: $0) }
        }
        Meters.proposalsFailed.increment(by: Int64(due.count))
        for w in due { w.completion(.failure(.leaderChanged)) }
    }

    /// Answers with `error` every waiter whose deadline has passed.
    func expire(now: ContinuousClock.Instant, _ error: (Waiter) -> ServerError) {
        let due = waiters.withLock { w -> [Waiter] in
            let ids = w.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { w.removeValue(forKey: $0) }
        }
        Meters.proposalsFailed.increment(by: Int64(due.count))
        for w in due { w.completion(.failure(error(w))) }
    }

    /// The request id of an entry's `InternalRaftRequest` when it is in field 1 (`ID`), as this
    /// server writes it, without decoding the whole request; 0 when absent.
    static func peekID(_ data: [UInt8]) -> UInt64 {
        guard data.count > 1, data[0] == 0x08 else { return 0 }
        var value: UInt64 = 0
        var shift: UInt64 = 0
        for i in 1..<min(data.count, 11) {
            value |= UInt64(data[i] & 0x7f) << shift
            if data[i] < 0x80 { return value }
            shift += 7
        }
        return 0
    }
}

/// What applying one request produced: the typed response, or the error etcd would return.
public enum ApplyResult: Sendable {
    case range(Etcdserverpb_RangeResponse)
    case put(Etcdserverpb_PutResponse)
    case deleteRange(Etcdserverpb_DeleteRangeResponse)
    case txn(Etcdserverpb_TxnResponse)
    case compaction(Etcdserverpb_CompactionResponse)
    case leaseGrant(Etcdserverpb_LeaseGrantResponse)
    case leaseRevoke(Etcdserverpb_LeaseRevokeResponse)
    case alarm(Etcdserverpb_AlarmResponse)
    /// A membership change was applied: the members after it.
    case members([Member])
    /// Any Auth call's response (they share no fields but the header).
    case auth(any ProtoMessage)
    case none
    case failure(ServerError)
}
