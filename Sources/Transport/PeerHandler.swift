// What the transport needs from the server, and the limits it enforces on peers.
import Raft

public protocol PeerHandler: AnyObject, Sendable {
    /// A validated message from a peer (never a local type, `to` == local id). Called on an event
    /// loop: must not block.
    func process(_ message: Raft.Message)
    func isRemoved(_ id: UInt64) -> Bool
    func reportUnreachable(_ id: UInt64)
    func reportSnapshot(_ id: UInt64, failed: Bool)
    /// A snapshot message whose backend bytes were written to `dbPath` (etcd's
    /// `<snapdir>/%016x.snap.db`). Called on an event loop: must not block.
    func receivedSnapshot(_ message: Raft.Message, dbPath: String)
    /// JSON for GET /members (etcd's membership JSON array, as etcdhttp serves it).
    func membersJSON() -> [UInt8]
    /// POST /leases (LeaseKeepAliveRequest -> LeaseKeepAliveResponse) and /leases/internal
    /// (LeaseInternalRequest -> LeaseInternalResponse). Status 200 answers `body` as protobuf;
    /// any other status answers `body` as etcd's text error (see ``LeaseAnswer``).
    func leaseRequest(path: String, body: [UInt8]) async -> (status: Int, body: [UInt8])
    /// A peer answered that this member was removed from the cluster (410 on a stream, 403 on a
    /// post): etcd stops the member. Called at most once per peer connection attempt.
    func removedFromCluster(reportedBy peer: UInt64)
    /// POST /members/promote/<id>: the whole answer (status, headers, body) as etcd gives it.
    func promoteMember(id: UInt64) async -> PeerAnswer
    /// GET /members/hashkv with a JSON `HashKVRequest` body: the whole answer.
    func hashKV(requestJSON: [UInt8]) async -> PeerAnswer
}

extension PeerHandler {
    public func removedFromCluster(reportedBy peer: UInt64) {}
    public func promoteMember(id: UInt64) async -> PeerAnswer { .notFound }
    public func hashKV(requestJSON: [UInt8]) async -> PeerAnswer { .notFound }
}

/// The non-200 answers of etcd's lease handler (leasehttp), for `leaseRequest`.
public enum LeaseAnswer {
    /// Not the leader: lessor.Renew returns ErrNotPrimary -> 400.
    public static let notPrimary = (status: 400, body: Array("not a primary lessor".utf8))
    public static let notFound = (status: 404, body: Array("lease not found".utf8))
    /// The leader did not apply up to its commit index within a second.
    public static let timeout = (status: 408, body: Array("waiting for node to catch up its applied index has timed out".utf8))
    public static let badRequest = (status: 400, body: Array("error unmarshalling request".utf8))
}

/// Size and timing limits. Defaults follow etcd 3.4 where etcd has one.
public struct TransportLimits: Sendable {
    /// Largest raftpb.Message accepted on a stream or pipeline post. etcd allows 512 MiB; raft
    /// sends at most MaxSizePerMsg (1 MiB) of entries plus one entry up to --max-request-bytes.
    public var maxMessageBytes = 64 * 1024 * 1024
    /// Largest MsgSnap message (before the database bytes) on /raft/snapshot.
    public var maxSnapshotMessageBytes = 512 * 1024 * 1024
    /// Messages queued per stream before dropping (streamBufSize).
    public var streamBuffer = 4096
    /// Messages queued for the pipeline before dropping (pipelineBufSize), and its workers.
    public var pipelineBuffer = 64
    public var pipelineConnections = 4
    /// ConnReadTimeout / ConnWriteTimeout: a stream that delivers nothing for this long is dead;
    /// link heartbeats go out every third of it.
    public var connTimeout: TimeAmountMillis = 5000
    /// Dial timeout (etcd: 1s + election timeout).
    public var dialTimeout: TimeAmountMillis = 2000
    /// Stream redial delay after a failure, doubling up to the maximum while failures repeat.
    public var redialMin: TimeAmountMillis = 100
    public var redialMax: TimeAmountMillis = 800
    /// Time allowed for a pipeline post or a snapshot answer (after the body is sent).
    public var postTimeout: TimeAmountMillis = 5000

    public init() {}
}

/// Milliseconds (kept as a plain integer so limits are easy to write in tests).
public typealias TimeAmountMillis = Int64
