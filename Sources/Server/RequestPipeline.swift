import EtcdProto
import Foundation
import Synchronization

/// One entry of the member's log, as the WAL stores it.
public struct LogEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// An `etcdserverpb.InternalRaftRequest` (or a v2 `Request` for member attributes).
        case normal
        /// A `raftpb.ConfChange`.
        case confChange
    }
    public var index: UInt64
    public var term: UInt64
    public var kind: Kind
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, kind: Kind = .normal, data: [UInt8]) {
        self.index = index
        self.term = term
        self.kind = kind
        self.data = data
    }
}

/// Durable storage of log entries (the WAL), written by the pipeline's log thread only.
public protocol EntryLog: AnyObject {
    /// Buffers entries; they are durable only after `sync()`.
    func append(_ entries: [LogEntry]) throws
    /// Makes everything appended so far durable (fdatasync).
    func sync() throws
    /// Drops the log before `index`, whose effects the backend holds durably (etcd's snapshot
    /// followed by WAL segment release).
    func release(through index: UInt64, term: UInt64) throws
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
    case none
    case failure(ServerError)

    var isFailure: Bool { if case .failure = self { true } else { false } }
}

/// A request on its way through the pipeline. The decoded request travels with its bytes so the
/// member that proposed it applies it without decoding it again; entries replayed from the WAL
/// and internal entries have no decoded request and no one waiting.
struct Proposal: Sendable {
    var kind: LogEntry.Kind = .normal
    var data: [UInt8]
    var request: Etcdserverpb_InternalRaftRequest?
    var completion: (@Sendable (ApplyResult) -> Void)?
}

/// The write path of a single member: proposals are appended to the WAL in batches with one
/// fsync per batch (group commit), then applied in log order on a second thread, so the next
/// batch's fsync overlaps this batch's apply. Nothing is acknowledged before its fsync.
///
/// Threads: the log thread alone touches `log`, `lastIndex`; the apply thread alone calls `apply`.
/// The Cluster issue replaces the log thread's body with the raft loop; the apply side stays.
final class RequestPipeline: @unchecked Sendable {
    private let proposals = BlockingQueue<Proposal>()
    private let committed = BlockingQueue<[(LogEntry, Proposal?)]>()
    private let log: EntryLog
    private let term: UInt64
    private var lastIndex: UInt64
    private let apply: ([(LogEntry, Proposal?)]) -> Void
    private let stoppedLog = BlockingQueue<Bool>()
    /// An applied index whose data the backend has made durable, for the log thread to release.
    private let releasable = Mutex<UInt64?>(nil)
    private let stoppedApply = BlockingQueue<Bool>()

    /// - Parameters:
    ///   - lastIndex: the index of the last entry already in the log.
    ///   - apply: called on the apply thread with each durable batch, in log order.
    init(log: EntryLog, term: UInt64, lastIndex: UInt64, apply: @escaping ([(LogEntry, Proposal?)]) -> Void) {
        self.log = log
        self.term = term
        self.lastIndex = lastIndex
        self.apply = apply
    }

    func start() {
        let logThread = Thread { [self] in runLog(); stoppedLog.push(true) }
        logThread.name = "etcd-log"
        logThread.start()
        let applyThread = Thread { [self] in runApply(); stoppedApply.push(true) }
        applyThread.name = "etcd-apply"
        applyThread.start()
    }

    /// Queues a proposal; false when the pipeline is stopping.
    func propose(_ proposal: Proposal) -> Bool { proposals.push(proposal) }

    /// Appends entries that are not client requests (bootstrap, member attributes) through the
    /// same path, so indexes stay in one sequence.
    func proposeInternal(kind: LogEntry.Kind, data: [UInt8]) {
        proposals.push(Proposal(kind: kind, data: data))
    }

    /// Lets the log thread drop everything before `index` at its next batch.
    func allowRelease(through index: UInt64) {
        releasable.withLock { $0 = index }
    }

    /// Stops taking proposals, finishes what is queued, and waits for both threads.
    func stop() {
        proposals.close()
        _ = stoppedLog.popAll()
        _ = stoppedApply.popAll()
    }

    private func runLog() {
        while let batch = proposals.popAll() {
            var entries: [LogEntry] = []
            entries.reserveCapacity(batch.count)
            for p in batch {
                lastIndex += 1
                entries.append(LogEntry(index: lastIndex, term: term, kind: p.kind, data: p.data))
            }
            do {
                try log.append(entries)
                try log.sync()
                if let index = releasable.withLock({ value in defer { value = nil }; return value }) {
                    try log.release(through: index, term: term)
                }
            } catch {
                // A WAL that cannot be written leaves nothing safe to do but refuse the batch and
                // stop accepting writes (etcd panics here).
                for p in batch { p.completion?(.failure(.internal("etcdserver: WAL write failed: \(error)"))) }
                proposals.close()
                continue
            }
            committed.push(Array(zip(entries, batch.map { Optional($0) })))
        }
        committed.close()
    }

    private func runApply() {
        while let batches = committed.popAll() {
            apply(batches.flatMap { $0 })
        }
    }
}
