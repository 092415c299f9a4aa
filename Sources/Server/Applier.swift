import Auth
import EtcdMetrics
import EtcdProto
import Foundation
import Lease
import Logging
import MVCC
import Raft
import Synchronization
import Transport

/// Work for the apply thread, in log order.
enum ApplyBatch: Sendable {
    /// Committed entries.
    case entries([Entry])
    /// A snapshot received from the leader: its backend replaces this member's.
    case snapshot(SnapshotMetadata)
    /// Work that needs the state machine quiet (a consistent copy of the backend).
    case work(@Sendable () -> Void)
}

/// The only writer of MVCC, the lessor, alarms and membership. Applies committed entries in log
/// order, one thread at a time (its own thread, or the raft loop for a short run while that
/// thread is idle), a run per LMDB transaction that also stores the consistent index of
/// its last entry; then answers the proposers waiting on this member, wakes applied-index
/// waiters and notifies watchers.
///
/// `@unchecked Sendable`: `queue`, `applied` and the waiter lists guard themselves; the rest is
/// immutable after init or touched by the apply thread alone.
final class Applier: @unchecked Sendable {
    let storage: MemberStorage
    let lessor: Lessor
    let auth: AuthStore
    let watchable: WatchableStore
    let membership: Membership
    let alarms: AlarmSet
    let registry: ProposalRegistry
    let logger: Logger
    private let queue = BlockingQueue<ApplyBatch>()
    private let stopped = BlockingQueue<Bool>()
    private let applied: Atomic<UInt64>
    /// Readers waiting for the applied index to reach theirs.
    private let waiters = Mutex<[(index: UInt64, resume: @Sendable () -> Void)]>([])
    /// Called after each run with the new applied index, on the thread that applied it (possibly
    /// the raft loop: it must not re-enter the driver synchronously).
    var onApplied: (@Sendable (UInt64) -> Void)?
    /// Called for each membership change to take into raft's configuration, in log order, on
    /// the applying thread; `replayed` when the backend already held it (a restart).
    var onConfChange: (@Sendable (ConfChange, _ replayed: Bool) -> Void)?
    /// A fatal error: the member must stop (etcd panics).
    let fatal: @Sendable (String) -> Never

    init(storage: MemberStorage, lessor: Lessor, auth: AuthStore, watchable: WatchableStore, membership: Membership, alarms: AlarmSet,
         registry: ProposalRegistry, logger: Logger, fatal: @escaping @Sendable (String) -> Never) {
        self.storage = storage
        self.lessor = lessor
        self.auth = auth
        self.watchable = watchable
        self.membership = membership
        self.alarms = alarms
        self.registry = registry
        self.logger = logger
        self.fatal = fatal
        applied = Atomic(storage.store.consistentIndex)
    }

    var appliedIndex: UInt64 { applied.load(ordering: .acquiring) }

    /// Sets the applied index after a snapshot replaced the state machine, and wakes readers.
    func markApplied(_ index: UInt64) {
        applied.store(index, ordering: .releasing)
        wakeWaiters()
        onApplied?(index)
    }

    func start() {
        let thread = Thread { [self] in
            while let batches = queue.claimAll() {
                defer { queue.release() }
                var run: [Entry] = []
                for batch in batches {
                    switch batch {
                    case .entries(let entries): run += entries
                    case .snapshot(let meta):
                        apply(run)
                        run = []
                        installSnapshot(meta)
                    case .work(let body):
                        apply(run)
                        run = []
                        body()
                    }
                }
                apply(run)
            }
            stopped.push(true)
        }
        thread.name = "etcd-apply"
        thread.start()
    }

    /// Queues committed entries; they are applied in the order queued.
    func enqueue(_ batch: ApplyBatch) { queue.push(batch) }

    /// Runs this short applied on the caller's thread when the applier is idle.
    static let inlineRunLimit = 8

    /// Applies committed entries in order with everything queued before them. A short run finding
    /// the apply thread idle is applied on the caller's thread (the raft loop): waking the apply
    /// thread would add a thread hand-off to every lone write's path. Longer runs go to the apply
    /// thread, so that the raft loop keeps serving peers while a large batch commits.
    func applyCommitted(_ entries: [Entry]) {
        if entries.count <= Self.inlineRunLimit, queue.claimIfIdle() {
            apply(entries)
            queue.release()
        } else {
            queue.push(.entries(entries))
        }
    }

    /// Applies what is queued, then stops the thread.
    func stop() {
        queue.close()
        _ = stopped.popAll()
        let rest = waiters.withLock { w in defer { w.removeAll() }; return w }
        for w in rest { w.resume() }
    }

    /// Returns once the applied index reaches `index` (or the applier stops).
    func waitApplied(_ index: UInt64) async {
        if appliedIndex >= index { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = waiters.withLock { w -> Bool in
                if applied.load(ordering: .acquiring) >= index { return true }
                w.append((index, { c.resume() }))
                return false
            }
            if now { c.resume() }
        }
    }

    // MARK: Apply thread

    /// Applies a run of entries in one LMDB commit. An entry the state machine cannot take (an
    /// undecodable request, a failed commit) stops the member: skipping it would diverge.
    func apply(_ entries: [Entry]) {
        guard let last = entries.last else { return }
        let session = storage.beginApply(lessor: lessor)
        var answers: [(@Sendable (ApplyResult) -> Void, ApplyResult)] = []
        for entry in entries {
            switch entry.type {
            case .confChange: if let answer = applyConfChange(entry, in: session) { answers.append(answer) }
            case .normal: if let answer = applyNormal(entry, in: session) { answers.append(answer) }
            }
        }
        do {
            try session.finish()
        } catch {
            fatal("apply: cannot commit entries up to \(last.index): \(error)")
        }
        storage.noteBackendSize()
        applied.store(max(last.index, applied.load(ordering: .relaxed)), ordering: .releasing)
        // Watchers before proposers (as etcd notifies them when the write transaction ends): a
        // client that opens a watch once its put is answered must start after that put's revision.
        // The streams' consumers are woken after the answers, so that a proposer's answer does
        // not wait behind their wake-ups.
        var wakeups = WatchWakeups()
        for change in session.changes { watchable.notify(change.events, revision: change.revision, wakeups: &wakeups) }
        for (completion, result) in answers { completion(result) }
        wakeups.resumeAll()
        wakeWaiters()
        onApplied?(appliedIndex)
    }

    private func wakeWaiters() {
        let index = appliedIndex
        let due = waiters.withLock { w -> [@Sendable () -> Void] in
            let ready = w.filter { $0.index <= index }.map(\.resume)
            w.removeAll { $0.index <= index }
            return ready
        }
        for resume in due { resume() }
    }

    /// Applies a membership change: validated against the membership as it stands (etcd's
    /// ValidateConfigurationChange), stored, then handed to raft and the transport through
    /// `onConfChange`. An invalid change has no effect anywhere; its proposer gets the error.
    private func applyConfChange(_ entry: Entry, in session: ApplySession) -> (@Sendable (ApplyResult) -> Void, ApplyResult)? {
        defer { session.markApplied(entry.index) }
        guard let change = try? Raftpb_ConfChange(serializedBytes: entry.data), let cc = try? ConfChange(change) else {
            fatal("apply: undecodable ConfChange at index \(entry.index)")
        }
        let waiter = registry.take(change.id ?? 0)
        if entry.index <= session.appliedThrough {
            // Replayed after a restart: the backend holds its outcome. Raft's configuration takes
            // it again only if it was accepted then, which the stored membership tells.
            if acceptedBefore(change) { onConfChange?(cc, true) }
            return waiter.map { ($0.completion, .members(membership.members)) }
        }
        if let error = membership.validate(change) {
            logger.warning("rejected a configuration change at index \(entry.index): \(error)")
            return waiter.map { ($0.completion, .failure(error)) }
        }
        do {
            if let m = try membership.apply(change, in: session) {
                let verb = switch change.type ?? .confChangeAddNode {
                case .confChangeRemoveNode: "removed"
                case .confChangeUpdateNode: "updated"
                default: Membership.isPromotion(change.context ?? []) ? "promoted" : "added"
                }
                logger.info("\(verb) member \(Identity.hex(m.id)) \(m.peerURLs) \(verb == "removed" ? "from" : "in") cluster \(Identity.hex(membership.clusterID))")
            }
        } catch {
            fatal("apply: cannot store the ConfChange at index \(entry.index): \(error)")
        }
        onConfChange?(cc, false)
        return waiter.map { ($0.completion, .members(membership.members)) }
    }

    /// Whether a change the backend already holds was accepted when first applied: its effect is
    /// still visible in the membership (or undone by a later change, whose replay follows).
    private func acceptedBefore(_ change: Raftpb_ConfChange) -> Bool {
        let id = change.nodeID ?? 0
        switch change.type ?? .confChangeAddNode {
        case .confChangeRemoveNode: return membership.isRemoved(id)
        case .confChangeUpdateNode: return false  // no effect on raft's configuration
        default:
            guard let m = membership.member(id) else { return false }
            return Membership.isPromotion(change.context ?? []) ? !m.isLearner : true
        }
    }

    /// Applies one normal entry; returns the answer for a proposer waiting on this member.
    private func applyNormal(_ entry: Entry, in session: ApplySession) -> (@Sendable (ApplyResult) -> Void, ApplyResult)? {
        defer { session.markApplied(entry.index) }
        if entry.data.isEmpty { return nil }  // a new leader's empty entry
        let waiter = registry.take(ProposalRegistry.peekID(entry.data))
        let request: Etcdserverpb_InternalRaftRequest
        if let known = waiter?.request {
            request = known
        } else {
            do { request = try Etcdserverpb_InternalRaftRequest(serializedBytes: entry.data) } catch {
                // etcd members propose v2 requests (publish, cluster version) as a bare `Request`.
                guard let v2 = try? Etcdserverpb_Request(serializedBytes: entry.data) else {
                    fatal("apply: undecodable entry at index \(entry.index): \(error)")
                }
                applyV2(v2, in: session)
                return waiter.map { ($0.completion, .none) }
            }
        }
        if let v2 = request.v2 {
            applyV2(v2, in: session)
            return waiter.map { ($0.completion, .none) }
        }
        // Entries the backend already holds (replayed after a restart) are not applied twice.
        if entry.index <= session.appliedThrough { return waiter.map { ($0.completion, .none) } }
        let started = Meters.now()
        let result = applyV3(request, index: entry.index, in: session)
        Meters.noteApply(since: started)
        return waiter.map { ($0.completion, result) }
    }

    private func applyV3(_ request: Etcdserverpb_InternalRaftRequest, index: UInt64, in session: ApplySession) -> ApplyResult {
        do throws(ServerError) {
            if let denied = authDenial(request) { return .failure(denied) }
            if let result = try applyAuth(request, index: index, in: session) { return result }
            // etcd's applierV3Corrupt: while CORRUPT is raised, writes and lease changes fail.
            if alarms.contains(.corrupt), Self.refusedWhenCorrupt(request) { return .failure(.corrupt) }
            if let put = request.put {
                return .put(try session.write { w throws(ServerError) in try KVApply.put(put, in: w) })
            }
            if let delete = request.deleteRange {
                return .deleteRange(try session.write { w throws(ServerError) in try KVApply.deleteRange(delete, in: w) })
            }
            if let txn = request.txn {
                return .txn(try session.write { w throws(ServerError) in try KVApply.txn(txn, in: w) })
            }
            if let compaction = request.compaction {
                try session.compact(compaction.revision)
                var response = Etcdserverpb_CompactionResponse()
                var header = Etcdserverpb_ResponseHeader()
                header.revision = session.currentRevision
                response.header = header
                return .compaction(response)
            }
            if let grant = request.leaseGrant { return try applyLeaseGrant(grant, in: session) }
            if let revoke = request.leaseRevoke { return try applyLeaseRevoke(revoke, in: session) }
            if let alarm = request.alarm { return try applyAlarm(alarm, in: session) }
        } catch {
            if case .internal = error { fatal("apply: \(error)") }
            return .failure(error)
        }
        return .none
    }

    static func refusedWhenCorrupt(_ r: Etcdserverpb_InternalRaftRequest) -> Bool {
        r.put != nil || r.deleteRange != nil || r.txn != nil || r.compaction != nil || r.leaseGrant != nil || r.leaseRevoke != nil
    }

    /// v2 requests carry member attributes and the cluster version (etcd's publish).
    private func applyV2(_ r: Etcdserverpb_Request, in session: ApplySession) {
        let path = r.path ?? ""
        let value = r.val ?? ""
        let parts = path.split(separator: "/")
        do throws(ServerError) {
            if parts.count == 4, parts[0] == "0", parts[1] == "members", parts[3] == "attributes",
               let id = UInt64(parts[2], radix: 16)
            {
                let object = (try? JSONSerialization.jsonObject(with: Data(value.utf8))) as? [String: Any]
                let name: String = (object?["name"] as? String) ?? ""
                let urls: [String] = (object?["clientURLs"] as? [String]) ?? []
                try membership.applyAttributes(id: id, name: name, clientURLs: urls, in: session)
                logger.info("published {Name:\(name) ClientURLs:[\(urls.joined(separator: " "))]} to cluster \(Identity.hex(membership.clusterID))")
            } else if path == "/0/version" {
                let first = membership.clusterVersion == nil
                try membership.applyClusterVersion(value, in: session)
                if first {
                    logger.notice("set the initial cluster version to \(value.split(separator: ".").prefix(2).joined(separator: "."))")
                    Logger(label: "etcdserver/api").info("enabled capabilities for version \(value.split(separator: ".").prefix(2).joined(separator: "."))")
                }
            }
        } catch {
            fatal("apply: cannot store v2 request \(path): \(error)")
        }
    }
}
