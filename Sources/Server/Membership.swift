import GoSyntax
import EtcdProto
import Foundation
import Logging
import Storage
import Synchronization

/// One member of the cluster as etcd's `membership.Member` describes it.
public struct Member: Sendable, Equatable {
    public var id: UInt64
    public var name: String
    public var peerURLs: [String]
    public var clientURLs: [String]
    public var isLearner: Bool

    public init(id: UInt64, name: String = "", peerURLs: [String], clientURLs: [String] = [], isLearner: Bool = false) {
        self.id = id
        self.name = name
        self.peerURLs = peerURLs
        self.clientURLs = clientURLs
        self.isLearner = isLearner
    }

    /// Go's `json.Marshal` of etcd's `membership.Member`: the bytes real etcd members put in the
    /// bootstrap ConfChange entries, so every member's log holds the same entries.
    public var json: String {
        var s = "{\"id\":\(id),\"peerURLs\":[\(peerURLs.map(GoSyntax.jsonString).joined(separator: ","))]"
        if isLearner { s += ",\"isLearner\":true" }
        if !name.isEmpty { s += ",\"name\":\(GoSyntax.jsonString(name))" }
        if !clientURLs.isEmpty { s += ",\"clientURLs\":[\(clientURLs.map(GoSyntax.jsonString).joined(separator: ","))]" }
        return s + "}"
    }

    /// The member as the Cluster service lists it.
    public var proto: Etcdserverpb_Member {
        var m = Etcdserverpb_Member()
        m.id = id
        m.name = name
        m.peerUrls = peerURLs
        m.clientUrls = clientURLs
        m.isLearner = isLearner
        return m
    }

    /// Parses etcd's member JSON (ConfChange context, `members` bucket values).
    public init?(json bytes: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let id = object["id"] as? NSNumber
        else { return nil }
        self.init(id: id.uint64Value, name: object["name"] as? String ?? "",
                  peerURLs: object["peerURLs"] as? [String] ?? [], clientURLs: object["clientURLs"] as? [String] ?? [],
                  isLearner: object["isLearner"] as? Bool ?? false)
    }
}

/// The owner of the cluster's membership: the `members`, `members_removed` and `cluster` buckets
/// and their in-memory copy. Written by the applier only (through `ApplySession`), read anywhere.
final class Membership: Sendable {
    struct State {
        var members: [UInt64: Member] = [:]
        var removed: Set<UInt64> = []
        var clusterVersion: String?
    }

    let localID: UInt64
    let clusterID: UInt64
    private let state: Mutex<State>

    init(localID: UInt64, clusterID: UInt64, backend: Backend) throws {
        self.localID = localID
        self.clusterID = clusterID
        state = Mutex(try Self.load(backend))
    }

    /// Reads the membership again after the backend was replaced by a snapshot.
    func reload(_ backend: Backend) throws {
        let loaded = try Self.load(backend)
        state.withLock { $0 = loaded }
        logRecoveredVersion()
    }

    /// etcd's cluster recovery (at a restart, and from an applied snapshot) puts a stored cluster
    /// version in force and says so; etcd's e2e harness waits for the capabilities line.
    func logRecoveredVersion() {
        guard let version = clusterVersion else { return }
        let majorMinor = version.split(separator: ".").prefix(2).joined(separator: ".")
        Logger(label: "etcdserver/membership").info("set the cluster version to \(majorMinor) from store")
        Logger(label: "etcdserver/api").info("enabled capabilities for version \(majorMinor)")
    }

    private static func load(_ backend: Backend) throws -> State {
        var s = State()
        let tx = try backend.read()
        defer { tx.end() }
        try tx.forEach(.members) { _, value in
            if let m = Member(json: Array(value)) { s.members[m.id] = m }
            return true
        }
        try tx.forEach(.membersRemoved) { key, _ in
            if let id = UInt64(String(decoding: key, as: UTF8.self), radix: 16) { s.removed.insert(id) }
            return true
        }
        if let v = try tx.get(.cluster, Self.clusterVersionKey) { s.clusterVersion = String(decoding: v, as: UTF8.self) }
        return s
    }

    static let clusterVersionKey = Array("clusterVersion".utf8)

    // MARK: Reads

    var members: [Member] { state.withLock { $0.members.values.sorted { $0.id < $1.id } } }
    func member(_ id: UInt64) -> Member? { state.withLock { $0.members[id] } }
    func isRemoved(_ id: UInt64) -> Bool { state.withLock { $0.removed.contains(id) } }
    var removedIDs: [UInt64] { state.withLock { $0.removed.sorted() } }
    var clusterVersion: String? { state.withLock { $0.clusterVersion } }
    var isEmpty: Bool { state.withLock { $0.members.isEmpty } }

    /// GET /members on the peer port: etcd's member JSON array.
    func json() -> [UInt8] {
        Array(("[" + members.map(\.json).joined(separator: ",") + "]").utf8)
    }

    /// Whether a ConfChange context is etcd's promotion of a learner (`"isPromote":true`).
    static func isPromotion(_ context: [UInt8]) -> Bool {
        let object = try? JSONSerialization.jsonObject(with: Data(context)) as? [String: Any]
        return object?["isPromote"] as? Bool ?? false
    }

    /// etcd's ValidateConfigurationChange: nil when `change` may be applied to the membership as
    /// it stands, else the error its proposer gets (the change then has no effect anywhere).
    func validate(_ change: Raftpb_ConfChange) -> ServerError? {
        let id = change.nodeID ?? 0
        let context = change.context ?? []
        return state.withLock { s -> ServerError? in
            if s.removed.contains(id) { return .memberNotFound }
            switch change.type ?? .confChangeAddNode {
            case .confChangeAddNode, .confChangeAddLearnerNode:
                if Self.isPromotion(context) {
                    guard let m = s.members[id] else { return .memberNotFound }
                    return m.isLearner ? nil : .memberNotLearner
                }
                if s.members[id] != nil { return .memberExists }
                let new = Member(json: context)
                let inUse = Set(s.members.values.flatMap(\.peerURLs))
                if new?.peerURLs.contains(where: inUse.contains) ?? false { return .peerURLExists }
                if change.type == .confChangeAddLearnerNode || new?.isLearner == true,
                   s.members.values.filter(\.isLearner).count + 1 > Self.maxLearners
                {
                    return .tooManyLearners
                }
                return nil
            case .confChangeRemoveNode:
                return s.members[id] == nil ? .memberNotFound : nil
            case .confChangeUpdateNode:
                guard s.members[id] != nil else { return .memberNotFound }
                let inUse = Set(s.members.values.filter { $0.id != id }.flatMap(\.peerURLs))
                return (Member(json: context)?.peerURLs ?? []).contains(where: inUse.contains) ? .peerURLExists : nil
            default:
                return .internal("unknown ConfChange type")
            }
        }
    }

    /// etcd allows one learner at a time.
    static let maxLearners = 1

    // MARK: Writes (apply thread)

    /// Applies a committed `raftpb.ConfChange` (bootstrap entries and, later, member add/remove).
    /// Returns the member it concerned, or nil when the change was not valid for this membership.
    @discardableResult
    func apply(_ change: Raftpb_ConfChange, in session: ApplySession) throws(ServerError) -> Member? {
        guard let nodeID = change.nodeID, nodeID != 0 else { return nil }
        switch change.type ?? .confChangeAddNode {
        case .confChangeAddNode, .confChangeAddLearnerNode:
            if Self.isPromotion(change.context ?? []) {
                guard var m = member(nodeID) else { return nil }
                m.isLearner = false
                try save(m, in: session)
                return m
            }
            guard var m = Member(json: change.context ?? []), m.id == nodeID else { return nil }
            if state.withLock({ $0.removed.contains(nodeID) }) { return nil }
            m.isLearner = change.type == .confChangeAddLearnerNode
            if let existing = member(nodeID) {
                // Re-applying the bootstrap entries after a restart keeps published attributes.
                if existing.peerURLs == m.peerURLs && !m.isLearner { return existing }
                m.name = existing.name
                m.clientURLs = existing.clientURLs
            }
            try save(m, in: session)
            return m
        case .confChangeRemoveNode:
            let key = Array(Identity.hex(nodeID).utf8)
            try session.update { tx in
                _ = try tx.delete(.members, key)
                try tx.put(.membersRemoved, key, Array("removed".utf8))
            }
            return state.withLock { s in
                s.removed.insert(nodeID)
                return s.members.removeValue(forKey: nodeID)
            }
        case .confChangeUpdateNode:
            guard let update = Member(json: change.context ?? []), var m = member(nodeID) else { return nil }
            m.peerURLs = update.peerURLs
            try save(m, in: session)
            return m
        default:
            return nil
        }
    }

    /// A published `{Name, ClientURLs}` (etcd's v2 PUT of `/0/members/<id>/attributes`).
    func applyAttributes(id: UInt64, name: String, clientURLs: [String], in session: ApplySession) throws(ServerError) {
        guard var m = member(id) else { return }
        m.name = name
        m.clientURLs = clientURLs
        try save(m, in: session)
    }

    func applyClusterVersion(_ version: String, in session: ApplySession) throws(ServerError) {
        try session.update { tx in try tx.put(.cluster, Self.clusterVersionKey, Array(version.utf8)) }
        state.withLock { $0.clusterVersion = version }
    }

    private func save(_ m: Member, in session: ApplySession) throws(ServerError) {
        try session.update { tx in try tx.put(.members, Array(Identity.hex(m.id).utf8), Array(m.json.utf8)) }
        state.withLock { $0.members[m.id] = m }
    }
}

