// Raft value types <-> raftpb protobuf messages. The encoders set every field etcd's gogoproto
// code always writes (non-nullable scalars, the embedded Snapshot, ConfState.auto_leave), so our
// bytes and sizes match Go's for the same message; empty byte fields stay absent as Go's nil.
import EtcdProto
import Raft

/// Why raftpb bytes could not become a Raft value.
public enum ConversionError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownMessageType(Int32)
    case unknownEntryType(Int32)
    case unknownConfChangeType(Int32)
    /// Joint consensus (voters_outgoing, learners_next, auto_leave) is not used by etcd 3.4.
    case jointConsensus
    case missingSnapshot

    public var description: String {
        switch self {
        case .unknownMessageType(let t): return "unknown raft message type \(t)"
        case .unknownEntryType(let t): return "unknown raft entry type \(t)"
        case .unknownConfChangeType(let t): return "unknown conf change type \(t)"
        case .jointConsensus: return "joint consensus conf state is not supported"
        case .missingSnapshot: return "MsgSnap without a snapshot"
        }
    }
}

extension Raftpb_Entry {
    public init(_ e: Raft.Entry) {
        self.init()
        type = Raftpb_EntryType(rawValue: Int32(e.type.rawValue))
        term = e.term
        index = e.index
        data = e.data.isEmpty ? nil : e.data
    }
}

extension Raft.Entry {
    public init(_ pb: Raftpb_Entry) throws(ConversionError) {
        let raw = pb.type?.rawValue ?? 0
        guard raw >= 0, raw <= 255, let t = Raft.EntryType(rawValue: UInt8(raw)) else {
            throw .unknownEntryType(raw)
        }
        self.init(term: pb.term ?? 0, index: pb.index ?? 0, type: t, data: pb.data ?? [])
    }
}

extension Raftpb_ConfState {
    public init(_ c: Raft.ConfState) {
        self.init()
        voters = c.voters
        learners = c.learners
        autoLeave = false
    }
}

extension Raft.ConfState {
    public init(_ pb: Raftpb_ConfState) throws(ConversionError) {
        guard pb.votersOutgoing.isEmpty, pb.learnersNext.isEmpty, pb.autoLeave != true else {
            throw .jointConsensus
        }
        self.init(voters: pb.voters, learners: pb.learners)
    }
}

extension Raftpb_Snapshot {
    public init(_ s: Raft.Snapshot) {
        self.init()
        data = s.data.isEmpty ? nil : s.data
        var md = Raftpb_SnapshotMetadata()
        md.confState = Raftpb_ConfState(s.metadata.confState)
        md.index = s.metadata.index
        md.term = s.metadata.term
        metadata = md
    }

    /// What gogoproto writes for a Message's zero Snapshot.
    static let goEmpty = Raftpb_Snapshot(Raft.Snapshot())
}

extension Raft.Snapshot {
    public init(_ pb: Raftpb_Snapshot) throws(ConversionError) {
        let md = pb.metadata ?? Raftpb_SnapshotMetadata()
        let cs = try Raft.ConfState(md.confState ?? Raftpb_ConfState())
        self.init(data: pb.data ?? [],
                  metadata: SnapshotMetadata(confState: cs, index: md.index ?? 0, term: md.term ?? 0))
    }
}

extension Raftpb_Message {
    public init(_ m: Raft.Message) {
        self.init()
        type = Raftpb_MessageType(rawValue: Int32(m.type.rawValue))
        to = m.to
        from = m.from
        term = m.term
        logTerm = m.logTerm
        index = m.index
        entries = m.entries.map(Raftpb_Entry.init)
        commit = m.commit
        snapshot = m.snapshot.map(Raftpb_Snapshot.init) ?? .goEmpty
        reject = m.reject
        rejectHint = m.rejectHint
        context = m.context.isEmpty ? nil : m.context
    }

    /// etcd's link heartbeat: MsgHeartbeat with From = To = 0, never produced by raft itself.
    public var isLinkHeartbeat: Bool {
        (type?.rawValue ?? 0) == Raftpb_MessageType.msgHeartbeat.rawValue && (from ?? 0) == 0 && (to ?? 0) == 0
    }

    static let linkHeartbeat: Raftpb_Message = {
        var m = Raftpb_Message(Raft.Message(type: .heartbeat))
        m.snapshot = .goEmpty
        return m
    }()
}

extension Raft.Message {
    /// Converts a decoded raftpb message. The snapshot is kept only on MsgSnap (gogoproto always
    /// sends an empty one).
    public init(_ pb: Raftpb_Message) throws(ConversionError) {
        let raw = pb.type?.rawValue ?? 0
        guard raw >= 0, raw <= 255, let t = Raft.MessageType(rawValue: UInt8(raw)) else {
            throw .unknownMessageType(raw)
        }
        var entries: [Raft.Entry] = []
        entries.reserveCapacity(pb.entries.count)
        for e in pb.entries { entries.append(try Raft.Entry(e)) }
        var snapshot: Raft.Snapshot?
        if t == .snap {
            guard let s = pb.snapshot else { throw .missingSnapshot }
            snapshot = try Raft.Snapshot(s)
        }
        self.init(type: t, to: pb.to ?? 0, from: pb.from ?? 0, term: pb.term ?? 0, logTerm: pb.logTerm ?? 0,
                  index: pb.index ?? 0, entries: entries, commit: pb.commit ?? 0, snapshot: snapshot,
                  reject: pb.reject ?? false, rejectHint: pb.rejectHint ?? 0, context: pb.context ?? [])
    }

    /// The raftpb encoding (what etcd's `m.Marshal()` produces).
    public func raftpbBytes() -> [UInt8] { Raftpb_Message(self).serializedBytes() }

    public init(raftpbBytes bytes: [UInt8]) throws {
        self = try Raft.Message(Raftpb_Message(serializedBytes: bytes))
    }
}

extension Raftpb_HardState {
    public init(_ h: Raft.HardState) {
        self.init()
        term = h.term
        vote = h.vote
        commit = h.commit
    }
}

extension Raft.HardState {
    public init(_ pb: Raftpb_HardState) {
        self.init(term: pb.term ?? 0, vote: pb.vote ?? 0, commit: pb.commit ?? 0)
    }
}

extension Raftpb_ConfChange {
    /// etcd stores this encoding in EntryConfChange entries (member JSON in `context`).
    public init(_ c: Raft.ConfChange) {
        self.init()
        id = c.id
        type = Raftpb_ConfChangeType(rawValue: Int32(c.type.rawValue))
        nodeID = c.nodeID
        context = c.context.isEmpty ? nil : c.context
    }
}

extension Raft.ConfChange {
    public init(_ pb: Raftpb_ConfChange) throws(ConversionError) {
        let raw = pb.type?.rawValue ?? 0
        guard raw >= 0, raw <= 255, let t = Raft.ConfChangeType(rawValue: UInt8(raw)) else {
            throw .unknownConfChangeType(raw)
        }
        self.init(id: pb.id ?? 0, type: t, nodeID: pb.nodeID ?? 0, context: pb.context ?? [])
    }
}
