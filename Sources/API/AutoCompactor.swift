import EtcdProto
import GoSyntax
import Logging
import Server
import Synchronization

/// How much history auto compaction keeps (`--auto-compaction-mode` and `-retention`).
public enum AutoCompaction: Sendable, Equatable {
    /// Compact what is older than this (periodic mode).
    case periodic(Duration)
    /// Keep this many revisions (revision mode).
    case revisions(Int64)
}

/// etcd's periodic compactor (v3compactor/periodic.go) without a clock of its own: the revision
/// is sampled every tenth of the period (of an hour at most), and once a period has passed since
/// the start, then every compact interval (the period, an hour at most) since the last success, the
/// sample taken a whole period ago is compacted.
struct PeriodicCompaction {
    /// Between samples, and between attempts after a failure.
    let retryInterval: Duration
    /// Samples kept: the oldest is a period old.
    let retentions: Int
    private let compactInterval: Duration
    private(set) var revisions: [Int64] = []
    private var lastSuccess: ContinuousClock.Instant
    private var baseInterval: Duration

    init(period: Duration, start: ContinuousClock.Instant) {
        compactInterval = min(period, .seconds(3600))
        retryInterval = compactInterval / 10
        retentions = Int(period / retryInterval) + 1
        lastSuccess = start
        baseInterval = period
    }

    /// Takes a sample of the current revision (before each wait, as etcd's loop does).
    mutating func record(_ revision: Int64) {
        revisions.append(revision)
        if revisions.count > retentions { revisions.removeFirst() }
    }

    /// After a wait: the revision to compact now, if any. A member that does not lead is paused.
    mutating func due(now: ContinuousClock.Instant, leading: Bool) -> Int64? {
        guard leading, now - lastSuccess >= baseInterval, let oldest = revisions.first else { return nil }
        baseInterval = compactInterval
        return oldest
    }

    /// The outcome of the compaction `due` asked for (already compacted counts as done).
    mutating func finished(ok: Bool, now: ContinuousClock.Instant) {
        if ok { lastSuccess = now }
    }
}

/// etcd's revision compactor (v3compactor/revision.go): every five minutes, compacts all but the
/// last `retention` revisions, unless that revision was the last one compacted.
struct RevisionCompaction {
    static let interval = Duration.seconds(300)
    let retention: Int64
    private var previous: Int64 = 0

    init(retention: Int64) { self.retention = retention }

    func due(currentRevision: Int64, leading: Bool) -> Int64? {
        let revision = currentRevision - retention
        guard leading, revision > 0, revision != previous else { return nil }
        return revision
    }

    mutating func finished(revision: Int64, ok: Bool) {
        if ok { previous = revision }
    }
}

/// Runs auto compaction on a member: the compactions go through raft, as a client's would, and
/// only the leader makes them (etcd pauses the compactor of a member that does not lead).
public final class AutoCompactor: Sendable {
    private let task = Mutex<Task<Void, Never>?>(nil)
    private static let logger = Logger(label: "compactor")

    private init() {}

    /// Starts compacting on `node` as `mode` says; nil when it keeps everything (a zero retention).
    public static func start(_ mode: AutoCompaction, node: ServerNode) -> AutoCompactor? {
        let compactor = AutoCompactor()
        switch mode {
        case .periodic(let period):
            guard period > .zero else { return nil }
            compactor.task.withLock { $0 = Task { await runPeriodic(period, node: node) } }
        case .revisions(let retention):
            guard retention > 0 else { return nil }
            compactor.task.withLock { $0 = Task { await runRevision(retention, node: node) } }
        }
        return compactor
    }

    public func stop() {
        task.withLock { $0?.cancel() }
    }

    private static func runPeriodic(_ period: Duration, node: ServerNode) async {
        var policy = PeriodicCompaction(period: period, start: .now)
        let retention = GoSyntax.formatDuration(period)
        let retry = GoSyntax.formatDuration(policy.retryInterval)
        while !Task.isCancelled {
            policy.record(node.currentRevision)
            try? await Task.sleep(for: policy.retryInterval)
            guard !Task.isCancelled else { return }
            guard let revision = policy.due(now: .now, leading: node.isLeader) else { continue }
            logger.notice("Starting auto-compaction at revision \(revision) (retention: \(retention))")
            let ok = await compact(revision, node: node, retry: retry)
            policy.finished(ok: ok, now: .now)
        }
    }

    private static func runRevision(_ retention: Int64, node: ServerNode) async {
        var policy = RevisionCompaction(retention: retention)
        let retry = GoSyntax.formatDuration(RevisionCompaction.interval)
        while !Task.isCancelled {
            try? await Task.sleep(for: RevisionCompaction.interval)
            guard !Task.isCancelled else { return }
            guard let revision = policy.due(currentRevision: node.currentRevision, leading: node.isLeader) else { continue }
            logger.notice("Starting auto-compaction at revision \(revision) (retention: \(retention) revisions)")
            policy.finished(revision: revision, ok: await compact(revision, node: node, retry: retry))
        }
    }

    /// Proposes the compaction; true when done (or done before: etcd's ErrCompacted).
    private static func compact(_ revision: Int64, node: ServerNode, retry: String) async -> Bool {
        var request = Etcdserverpb_CompactionRequest()
        request.revision = revision
        do throws(ServerError) {
            _ = try await node.compact(request)
        } catch .compacted {
        } catch {
            logger.notice("Failed auto-compaction at revision \(revision) (\(error.grpcStatus.message))")
            logger.notice("Retry after \(retry)")
            return false
        }
        logger.notice("Finished auto-compaction at revision \(revision)")
        return true
    }
}
