import EtcdProto
import Foundation
import Lease
import MVCC
import Logging
import Synchronization

/// One etcd member: owns the storage, the write pipeline and membership, and serves the KV,
/// Maintenance and Cluster calls the API layer decodes. Reads run on the caller's task against an
/// MVCC read view; writes go through the pipeline and return once durable and applied.
///
/// `Sendable`: immutable after `start` except the counters in `progress` (behind a `Mutex`) and the
/// storage objects, which guard themselves.
public final class ServerNode: Sendable {
    /// The etcd version this server speaks and reports (`/version`, Maintenance.Status).
    public static let version = "3.4.23"
    public static let clusterVersion = "3.4.0"

    public let options: ServerOptions
    public let memberID: UInt64
    public let clusterID: UInt64
    let logger: Logger
    let storage: MemberStorage
    let pipeline: RequestPipeline
    let lessor: Lessor
    public let watchable: WatchableStore
    let alarms: Mutex<Set<Etcdserverpb_AlarmType>>
    /// The backend file's size as of the last applied batch, so the quota check needs no syscall.
    let backendSize = Atomic<Int64>(0)
    let leaseExpiry: Mutex<Task<Void, Never>?> = Mutex(nil)
    let progress: Mutex<Progress>
    private let nextRequestID: Atomic<UInt64>

    /// Lets the pipeline's apply closure reach the node without a reference cycle at init.
    /// `@unchecked Sendable`: written once in `init` before the pipeline starts.
    private final class ApplyTarget: @unchecked Sendable {
        weak var node: ServerNode?
    }

    struct Progress {
        var term: UInt64
        var appliedIndex: UInt64
        var committedIndex: UInt64
        /// The newest index the log was allowed to drop entries before.
        var releasedIndex: UInt64 = 0
    }

    /// Opens (or creates) the member's data directory, replays the WAL, and starts the pipeline.
    public init(options: ServerOptions, logger: Logger) throws {
        self.options = options
        self.logger = logger
        let members = options.initialCluster.map {
            Identity.memberID(peerURLs: $0.peerURLs, clusterToken: options.clusterToken)
        }
        memberID = Identity.memberID(peerURLs: options.advertisePeerURLs, clusterToken: options.clusterToken)
        clusterID = Identity.clusterID(memberIDs: members)
        storage = try MemberStorage(options: options, logger: logger)
        lessor = try Lessor(backend: storage.backend, minTTL: options.minLeaseTTL)
        watchable = WatchableStore(store: storage.store)
        alarms = Mutex(try Self.loadAlarms(storage.backend, memberID: memberID))
        for (key, lease) in storage.store.restoredLeases { try? lessor.attach(id: lease, key: key) }
        let recovered = try storage.recover(memberID: memberID, clusterID: clusterID)
        progress = Mutex(Progress(term: recovered.term, appliedIndex: recovered.appliedIndex,
                                  committedIndex: recovered.lastIndex, releasedIndex: recovered.appliedIndex))
        nextRequestID = Atomic(memberID << 48 ^ UInt64(Date().timeIntervalSince1970 * 1000) << 8)
        let applyTarget = ApplyTarget()
        pipeline = RequestPipeline(log: storage, term: recovered.term, lastIndex: recovered.lastIndex) {
            applyTarget.node?.applyBatch($0)
        }
        applyTarget.node = self
        if recovered.isNew {
            logger.info("starting member \(Identity.hex(memberID)) in cluster \(Identity.hex(clusterID))")
        }
        // Entries made durable before a crash but not applied yet.
        applyBatch(recovered.unapplied.map { ($0, nil) })
        logger.info("\(Identity.hex(memberID)) became leader at term \(recovered.term)")
        pipeline.start()
        // As an elected etcd leader does: an empty entry for the new term, then the member's
        // attributes; a new cluster also records its version.
        pipeline.proposeInternal(kind: .normal, data: [])
        pipeline.proposeInternal(kind: .normal, data: publishRequest())
        if recovered.isNew { pipeline.proposeInternal(kind: .normal, data: clusterVersionRequest()) }
        // A new leader gives every lease its full TTL again, plus an election timeout.
        lessor.promote(extend: .milliseconds(options.electionTimeoutMs))
        startLeaseExpiry()
    }

    /// Stops the pipeline after what is queued is durable and applied, then closes storage.
    public func stop() {
        leaseExpiry.withLock { $0?.cancel() }
        pipeline.stop()
        watchable.shutdown()
        storage.close()
    }

    /// etcd's /health: false while any alarm is raised.
    public var isHealthy: Bool { alarms.withLock { $0.isEmpty } }

    /// The store's newest revision.
    public var currentRevision: Int64 { storage.currentRevision }

    // MARK: - Responses

    /// A header with this member's identity; `revision` 0 is filled with the store's revision.
    public func header(revision: Int64 = 0) -> Etcdserverpb_ResponseHeader {
        var h = Etcdserverpb_ResponseHeader()
        h.clusterID = clusterID
        h.memberID = memberID
        h.raftTerm = progress.withLock { $0.term }
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

    /// Encodes `request` with a fresh ID, refuses it when too large, and waits until applied.
    func propose(_ build: (inout Etcdserverpb_InternalRaftRequest) -> Void) async throws(ServerError) -> ApplyResult {
        var request = Etcdserverpb_InternalRaftRequest()
        var header = Etcdserverpb_RequestHeader()
        header.id = nextID()
        request.header = header
        build(&request)
        let data = request.serializedBytes()
        if data.count > options.maxRequestBytes { throw .requestTooLarge }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<ApplyResult, Never>) in
            let proposal = Proposal(kind: .normal, data: data, request: request) { continuation.resume(returning: $0) }
            if !pipeline.propose(proposal) { continuation.resume(returning: .failure(.stopped)) }
        }
        if case .failure(let error) = result { throw error }
        return result
    }

    // MARK: - Internal entries

    /// etcd publishes member attributes as a v2 request; the body is the JSON etcd writes.
    private func publishRequest() -> [UInt8] {
        let urls = options.advertiseClientURLs.map { "\"\($0)\"" }.joined(separator: ",")
        return v2Request(path: "/0/members/\(Identity.hex(memberID))/attributes",
                         value: "{\"name\":\"\(options.name)\",\"clientURLs\":[\(urls)]}")
    }

    private func clusterVersionRequest() -> [UInt8] {
        v2Request(path: "/0/version", value: Self.clusterVersion)
    }

    private func v2Request(path: String, value: String) -> [UInt8] {
        var v2 = Etcdserverpb_Request()
        v2.id = nextID()
        v2.method = "PUT"
        v2.path = path
        v2.val = value
        var request = Etcdserverpb_InternalRaftRequest()
        request.v2 = v2
        return request.serializedBytes()
    }
}
