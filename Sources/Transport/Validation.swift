// The checks every inbound raft message passes before it reaches the server. Raft trusts its
// input, so anything a confused or hostile peer could send that would upset it stops here.
import EtcdProto
import Raft

/// Why an inbound message was dropped.
public enum InboundRejection: Error, Sendable, Hashable, CustomStringConvertible {
    case conversion(ConversionError)
    case localMessageType(Raft.MessageType)
    case wrongRecipient(UInt64)
    case senderMismatch(got: UInt64, expected: UInt64)
    case unknownSender(UInt64)
    case removedSender(UInt64)
    /// MsgSnap arrives only on /raft/snapshot with its database; anything else must not carry one.
    case snapshotOutsideSnapshotPath
    case notASnapshot(Raft.MessageType)
    case emptySnapshot
    /// MsgApp entries must follow Index one by one, with terms not above the message term.
    case inconsistentEntries
    /// MsgVote/MsgPreVote without a term: raft takes a term-0 message for a local one and traps
    /// answering such a vote (its answer must carry the vote's term; found by fuzzing).
    case missingTerm(Raft.MessageType)
    /// MsgProp/MsgReadIndex forwarded to the leader travel without a term; raft traps forwarding
    /// one that has a term again (found by fuzzing).
    case unexpectedTerm(Raft.MessageType)
    /// A forwarded MsgProp must carry entries: raft traps on an empty one (found by fuzzing).
    case emptyProposal

    public var description: String {
        switch self {
        case .conversion(let e): return e.description
        case .localMessageType(let t): return "local message type \(t) from the network"
        case .wrongRecipient(let to): return "message addressed to \(EtcdID.hex(to))"
        case .senderMismatch(let got, let expected):
            return "message from \(EtcdID.hex(got)) on a connection from \(EtcdID.hex(expected))"
        case .unknownSender(let id): return "message from unknown member \(EtcdID.hex(id))"
        case .removedSender(let id): return "message from removed member \(EtcdID.hex(id))"
        case .snapshotOutsideSnapshotPath: return "MsgSnap outside /raft/snapshot"
        case .notASnapshot(let t): return "unexpected raft message type \(t) on snapshot path"
        case .emptySnapshot: return "MsgSnap with an empty snapshot"
        case .inconsistentEntries: return "MsgApp entries are not contiguous"
        case .missingTerm(let t): return "\(t) without a term"
        case .emptyProposal: return "MsgProp without entries"
        case .unexpectedTerm(let t): return "\(t) with a term"
        }
    }
}

/// Where a message came in; decides whether MsgSnap is allowed.
public enum InboundPath: Sendable {
    case stream, pipeline, snapshot
}

public struct InboundValidator: Sendable {
    public let localID: UInt64

    public init(localID: UInt64) { self.localID = localID }

    /// Returns the message if it may be stepped. `expectedFrom` is the peer the connection belongs
    /// to (X-Server-From or the stream's peer); `isKnown`/`isRemoved` answer for member ids.
    public func validate(_ pb: Raftpb_Message, path: InboundPath, expectedFrom: UInt64,
                         isKnown: (UInt64) -> Bool, isRemoved: (UInt64) -> Bool) throws(InboundRejection) -> Raft.Message {
        let m: Raft.Message
        do { m = try Raft.Message(pb) } catch { throw .conversion(error) }
        if m.type.isLocal { throw .localMessageType(m.type) }
        if m.term == 0, m.type == .vote || m.type == .preVote { throw .missingTerm(m.type) }
        if m.type == .prop, m.entries.isEmpty { throw .emptyProposal }
        if m.term != 0, m.type == .prop || m.type == .readIndex { throw .unexpectedTerm(m.type) }
        switch path {
        case .snapshot:
            guard m.type == .snap else { throw .notASnapshot(m.type) }
            guard let s = m.snapshot, !s.isEmpty else { throw .emptySnapshot }
        case .stream, .pipeline:
            if m.type == .snap { throw .snapshotOutsideSnapshotPath }
        }
        guard m.to == localID else { throw .wrongRecipient(m.to) }
        guard m.from == expectedFrom else { throw .senderMismatch(got: m.from, expected: expectedFrom) }
        guard m.from != 0, m.from != localID else { throw .unknownSender(m.from) }
        if isRemoved(m.from) { throw .removedSender(m.from) }
        guard isKnown(m.from) else { throw .unknownSender(m.from) }
        if m.type == .app {
            var expect = m.index
            for e in m.entries {
                let (next, overflow) = expect.addingReportingOverflow(1)
                guard !overflow, e.index == next, e.term <= m.term else { throw .inconsistentEntries }
                expect = next
            }
        }
        return m
    }
}

/// etcd prints member and cluster ids as lower-case hex without padding (types.ID.String).
public enum EtcdID {
    public static func hex(_ id: UInt64) -> String { String(id, radix: 16) }

    /// types.IDFromString: base-16 digits only (no sign, no 0x), at most 64 bits.
    public static func parse(_ s: Substring) -> UInt64? {
        guard !s.isEmpty, s.utf8.count <= 64, s.utf8.allSatisfy({ isHexDigit($0) }) else { return nil }
        return UInt64(s, radix: 16)
    }

    public static func parse(_ s: String) -> UInt64? { parse(Substring(s)) }

    private static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
    }
}
