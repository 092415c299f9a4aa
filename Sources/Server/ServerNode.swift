import GoSyntax
import Auth
import EtcdProto
import Foundation
import Lease
import Logging
import MVCC
import NIOPosix
import Raft
import Synchronization
import Transport

/// One etcd member, as the API layer sees it: serves the KV, Lease, Maintenance and Cluster calls.
/// It wires and owns the parts that do the work:
/// - `RaftDriver`: the raft node, the WAL and the tick clock (one thread);
/// - `Applier`: the only writer of MVCC, leases, alarms and membership (one thread);
/// - `ProposalRegistry`: proposals waiting to be applied, by request id;
/// - `LinearizableReads`: ReadIndex rounds;
/// - `Membership`: the members and the cluster version.
/// Reads run on the caller's task against an MVCC read view; writes are proposed and return once
/// applied on this member.
public final class ServerNode: Sendable {
    /// The etcd version this server speaks and reports (`/version`, Maintenance.Status).
    public static let version = "3.4.23"
    public static let clusterVersion = "3.4.0"
    /// etcd refuses proposals when applying falls this far behind committing.
    static let maxGapBetweenApplyAndCommit: UInt64 = 5000

    public let options: ServerOptions
    public let memberID: UInt64
    public let clusterID: UInt64
    let logger: Logger
    let storage: MemberStorage
    let lessor: Lessor
    let auth: AuthStore
    public let watchable: WatchableStore
    let alarms: AlarmSet
    let membership: Membership
    let registry = ProposalRegistry()
    let applier: Applier
    let driver: RaftDriver
    /// The raft driver's thread, shared by the peer transport's connections.
    let raftLoop: MultiThreadedEventLoopGroup
    let leaseExpiry: Mutex<Task<Void, Never>?> = Mutex(nil)
    let corruptionMonitor: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let publisher: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let published = Published()
    /// Set at start: the peer port's client, for forwarding to the leader.
    let peerPoster = Mutex<(any PeerPoster)?>(nil)
    let peerTransport = Mutex<PeerTransport?>(nil)
    /// Received bbolt snapshots being converted (by path), so a resent one is not converted twice
    /// at once.
    let snapshotConversions = Mutex<Set<String>>([])
    /// `--initial-cluster` as members (ids as etcd computes them).
    let initialMembers: [Member]
    private let nextRequestID: Atomic<UInt64>
    /// Set once this member learns it was removed from the cluster.
    let removed = Mutex(false)
    /// Called once when this member is removed from the cluster (the process should stop).
    public let onRemoved = Mutex<(@Sendable () -> Void)?>(nil)

    /// Opens (or creates) the member's data directory and starts raft and the applier. A new
    /// member bootstraps the cluster of `--initial-cluster`; a member with a WAL resumes from it.
    public convenience init(options: ServerOptions, logger: Logger) throws {
        try self.init(options: options, logger: logger, fatal: nil, wrapLog: nil)
    }

    /// - Parameters:
    ///   - fatal: how the member stops on an error it cannot go on after (default: log, exit 1).
    ///   - wrapLog: lets tests observe or break the WAL.
    init(options: ServerOptions, logger: Logger, fatal: (@Sendable (String) -> Never)?,
         wrapLog: ((DurableLog) -> DurableLog)?) throws {
        self.options = options
        self.logger = logger
        var initial = options.initialCluster.map {
            Member(id: Identity.memberID(peerURLs: $0.peerURLs, clusterToken: options.clusterToken),
                   name: $0.name, peerURLs: $0.peerURLs.sorted())
        }
        let joining = options.existingCluster
        if let joining { initial = try Self.assignIDs(local: initial, existing: joining) }
        initialMembers = initial
        let die: @Sendable (String) -> Never = fatal ?? { message in
            Logger(label: "etcdserver").critical("\(message)")
            exit(1)
        }
        storage = try MemberStorage(options: options, logger: logger)
        // A member with a WAL keeps the ids it was created with, whatever the flags say now (etcd
        // ignores --initial-cluster on restart).
        let recovered = storage.hasLog ? try storage.openLog() : nil
        memberID = recovered.flatMap { $0.memberID != 0 ? $0.memberID : nil }
            ?? (joining != nil ? initial.first { $0.name == options.name }?.id : nil)
            ?? Identity.memberID(peerURLs: options.advertisePeerURLs, clusterToken: options.clusterToken)
        clusterID = recovered.flatMap { $0.clusterID != 0 ? $0.clusterID : nil } ?? joining?.clusterID
            ?? Identity.clusterID(memberIDs: initial.map(\.id))
        lessor = try Lessor(backend: storage.backend, minTTL: options.minLeaseTTL)
        auth = try AuthStore(backend: storage.backend,
                             tokens: makeTokenProvider(options.authToken, simpleTTL: .seconds(options.authTokenTTL)),
                             bcryptCost: options.bcryptCost)
        watchable = WatchableStore(store: storage.store,
                                   options: WatchableStore.Options(progressInterval: options.watchProgressNotifyInterval))
        alarms = try AlarmSet(backend: storage.backend)
        membership = try Membership(localID: memberID, clusterID: clusterID, backend: storage.backend)
        for (key, lease) in storage.store.restoredLeases { try? lessor.attach(id: lease, key: key) }
        applier = Applier(storage: storage, lessor: lessor, auth: auth, watchable: watchable, membership: membership, alarms: alarms,
                          registry: registry, logger: logger, fatal: die)
        nextRequestID = Atomic(memberID << 48 ^ UInt64(Date().timeIntervalSince1970 * 1000) << 8)

        var config = RaftConfig(id: memberID, electionTick: options.electionTicks, heartbeatTick: 1)
        config.checkQuorum = true
        config.preVote = options.preVote
        config.maxSizePerMsg = 1 << 20
        config.maxInflightMsgs = 512
        config.maxUncommittedEntriesSize = 1 << 30
        let raftStorage = MemoryStorage()
        let node: RawNode
        if let recovered {
            // A snapshot received before a crash, whose backend was not installed yet.
            if recovered.snapshot.index > storage.store.consistentIndex {
                applier.installSnapshot(SnapshotMetadata(index: recovered.snapshot.index, term: recovered.snapshot.term))
            }
            var snapshotVoters: [UInt64] = []
            if recovered.snapshot.index > 0 {
                snapshotVoters = membership.members.filter { !$0.isLearner }.map(\.id)
                let learners = membership.members.filter(\.isLearner).map(\.id)
                try raftStorage.applySnapshot(Snapshot(metadata: SnapshotMetadata(
                    confState: ConfState(voters: snapshotVoters, learners: learners),
                    index: recovered.snapshot.index, term: recovered.snapshot.term)))
            }
            var entries = recovered.entries
            var hardState = recovered.hardState
            if options.forceNewCluster {
                let standalone = StandaloneRestart(selfID: memberID, voters: snapshotVoters, entries: entries, hardState: hardState)
                if standalone.discarded > 0 { logger.info("discarding \(standalone.discarded) uncommitted WAL entries ") }
                // Saved without a hard state, as etcd does: the commit index is raft's to persist.
                try storage.save(hardState: nil, entries: standalone.appended, sync: true)
                entries = standalone.entries
                hardState = standalone.hardState
                logger.info("forcing restart of member \(Identity.hex(memberID)) in cluster \(Identity.hex(clusterID)) at commit index \(hardState.commit)")
            } else {
                logger.info("restarting member \(Identity.hex(memberID)) in cluster \(Identity.hex(clusterID)) at commit index \(hardState.commit)")
            }
            raftStorage.append(entries)
            raftStorage.setHardState(hardState)
            config.applied = recovered.snapshot.index
            node = try RawNode(config: config, storage: raftStorage)
            membership.logRecoveredVersion()
        } else {
            try storage.createLog(memberID: memberID, clusterID: clusterID)
            node = try RawNode(config: config, storage: raftStorage)
            if joining == nil {
                try node.bootstrap(peers: initial.sorted { $0.id < $1.id }.map { ($0.id, Self.addNodeChange($0)) })
            }
            // A member joining a running cluster starts with an empty log: the leader sends it
            // the log (or a snapshot), membership changes included.
            logger.info("starting member \(Identity.hex(memberID)) in cluster \(Identity.hex(clusterID))")
        }
        let reads = LinearizableReads(timeout: options.requestTimeout, memberID: memberID)
        raftLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        driver = RaftDriver(node: node, raftStorage: raftStorage, log: wrapLog?(storage) ?? storage, applier: applier, registry: registry,
                            reads: reads, options: options, loop: raftLoop.next(), logger: logger, fatal: die)
        let lessor = self.lessor
        let electionTimeout = Duration.milliseconds(options.electionTimeoutMs)
        driver.onLeadership = { [weak self] leading in
            if leading {
                // A new leader gives every lease its TTL again, plus an election timeout.
                lessor.promote(extend: electionTimeout)
                self?.setClusterVersionIfUnset()
            } else {
                lessor.demote()
            }
        }
        applier.onConfChange = { [weak self] cc, replayed in self?.confChangeApplied(cc, replayed: replayed) }
        let snapshotCount = UInt64(max(options.snapshotCount, 1))
        let lastSnapshot = Atomic<UInt64>(applier.appliedIndex)
        applier.onApplied = { [storage, driver, logger] index in
            guard index - lastSnapshot.load(ordering: .relaxed) >= snapshotCount else { return }
            do {
                try storage.syncBackend()
                lastSnapshot.store(index, ordering: .relaxed)
                // Possibly called inside the driver's own Ready handling (an inline apply).
                driver.loop.execute { driver.submit(.snapshot(index)) }
            } catch {
                logger.error("cannot sync the backend for a snapshot at \(index): \(error)")
            }
        }
    }

    /// Starts raft and the applier, publishes this member's attributes and expires leases on the
    /// leader. `sender` carries messages to the other members (nil for a single member).
    func start(sender: MessageSender?, poster: (any PeerPoster)? = nil) {
        driver.sender = sender
        driver.snapDir = storage.snapDir
        peerPoster.withLock { $0 = poster }
        applier.start()
        driver.start()
        startInitialTickAdvance()
        startPublishing()
        startLeaseExpiry()
        startCorruptionMonitor()
    }

    /// Starts a member that needs no transport (a single-member cluster; tests).
    public func start() { start(sender: nil) }

    /// Stops the tasks, then raft (after queued inputs), then the applier (after queued entries),
    /// then closes storage. Waiting requests are answered with "server stopped".
    public func stop() {
        leaseExpiry.withLock { $0?.cancel() }
        corruptionMonitor.withLock { $0?.cancel() }
        publisher.withLock { $0?.cancel() }
        driver.stop()
        applier.stop()
        registry.failAll(.stopped)
        driver.reads.failAll(.stopped)
        try? raftLoop.syncShutdownGracefully()
        published.release()
        watchable.shutdown()
        storage.close()
    }

    /// Returns once this member's attributes were published through raft (etcd's ReadyNotify),
    /// or it stopped.
    public func waitPublished() async { await published.wait() }

    /// etcd's /health: a leader is known and no alarm is raised.
    public var isHealthy: Bool { alarms.isEmpty && leader != 0 }

    /// The known leader (0 when none).
    public var leader: UInt64 { driver.status.withLock { $0.leader } }
    public var isLeader: Bool { driver.status.withLock { $0.isLeader } }
    /// Whether this member is a learner (no vote; serves serializable reads and Status only).
    public var isLearner: Bool { membership.member(memberID)?.isLearner ?? false }
    public var leaderChanges: Int { driver.status.withLock { $0.leaderChanges } }

    /// The store's newest revision.
    public var currentRevision: Int64 { storage.currentRevision }

    // MARK: - Responses

    /// A header with this member's identity; `revision` 0 is filled with the store's revision.
    public func header(revision: Int64 = 0) -> Etcdserverpb_ResponseHeader {
        var h = Etcdserverpb_ResponseHeader()
        h.clusterID = clusterID
        h.memberID = memberID
        h.raftTerm = driver.status.withLock { $0.term }
        h.revision = revision != 0 ? revision : storage.currentRevision
        return h
    }

    public func fill(_ header: Etcdserverpb_ResponseHeader?) -> Etcdserverpb_ResponseHeader {
        self.header(revision: header?.revision ?? 0)
    }

    // MARK: - Proposals

    /// A fresh request (or lease) ID: member ID in the top bits, then a counter, like etcd's
    /// idutil generator.
    func nextID() -> UInt64 { nextRequestID.wrappingAdd(1, ordering: .relaxed).newValue }

    /// Encodes `request` with a fresh ID, refuses it when too large or when applying lags, and
    /// waits until it is applied on this member (or fails with etcd's error).
    func propose(_ build: (inout Etcdserverpb_InternalRaftRequest) -> Void) async throws(ServerError) -> ApplyResult {
        var request = Etcdserverpb_InternalRaftRequest()
        let id = nextID()
        request.id = id
        request.header = try await authHeader(id: id)
        build(&request)
        let data = request.serializedBytes()
        if data.count > options.maxRequestBytes { throw .requestTooLarge }
        let committed = driver.status.withLock { $0.committed }
        if committed > applier.appliedIndex + Self.maxGapBetweenApplyAndCommit { throw .tooManyRequests }
        let deadline = ContinuousClock.now + options.requestTimeout
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<ApplyResult, Never>) in
            registry.register(id: id, .init(request: request, deadline: deadline) { continuation.resume(returning: $0) })
            if !driver.submit(.propose(data)) { registry.fail(id, .stopped) }
        }
        if case .failure(let error) = result { throw error }
        return result
    }

    /// Waits until this member may serve a linearizable read: a ReadIndex round confirmed the
    /// leader's commit index and the applier reached it.
    func linearizableBarrier() async throws(ServerError) {
        _ = try await driver.reads.readIndex { driver.submit(.readIndex) }
    }

    // MARK: - Internal entries

    /// The bootstrap entry for one member: etcd's `raftpb.ConfChange` bytes with the member's
    /// JSON as context, identical to what an etcd member writes.
    static func addNodeChange(_ m: Member) -> [UInt8] {
        var change = Raftpb_ConfChange()
        change.id = 0
        change.type = .confChangeAddNode
        change.nodeID = m.id
        change.context = Array(m.json.utf8)
        return change.serializedBytes()
    }

    /// Proposes this member's attributes until they are applied (etcd's publish), then marks the
    /// member ready.
    private func startPublishing() {
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                do {
                    _ = try await self.propose { $0.v2 = self.attributesRequest() }
                    self.published.release()
                    return
                } catch let error as ServerError {
                    if error == .stopped { return }
                    self.logger.warning("failed to publish local member to cluster through raft (\(error)); retrying")
                    try? await Task.sleep(for: .milliseconds(500))
                } catch {
                    return
                }
            }
        }
        publisher.withLock { $0 = task }
    }

    private func attributesRequest() -> Etcdserverpb_Request {
        let urls = options.advertiseClientURLs.map(GoSyntax.jsonString).joined(separator: ",")
        return v2Request(path: "/0/members/\(Identity.hex(memberID))/attributes",
                         value: "{\"name\":\(GoSyntax.jsonString(options.name)),\"clientURLs\":[\(urls)]}")
    }

    /// The leader records the cluster version once (etcd's leader does when every member runs
    /// a version that supports it; every etcd-swift member speaks 3.4).
    private func setClusterVersionIfUnset() {
        guard membership.clusterVersion == nil else { return }
        Task.detached { [weak self] in
            guard let self else { return }
            _ = try? await self.propose { $0.v2 = self.v2Request(path: "/0/version", value: Self.clusterVersion) }
        }
    }

    private func v2Request(path: String, value: String) -> Etcdserverpb_Request {
        var v2 = Etcdserverpb_Request()
        v2.id = nextID()
        v2.method = "PUT"
        v2.path = path
        v2.val = value
        return v2
    }
}

/// Posts to another member's peer port (the transport's HTTP client): nil when no URL answered.
protocol PeerPoster: Sendable {
    func post(urls: [String], path: String, body: [UInt8], timeout: Duration) async -> (status: Int, body: [UInt8])?
}

/// A one-shot latch: `wait` returns once `release` was called.
final class Published: Sendable {
    private let state = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.done { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func release() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.done = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}
