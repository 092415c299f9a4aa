// The msgappv2 stream (rafthttp msgappv2_codec.go). Each record starts with a type byte:
//   0 link heartbeat (nothing else)
//   1 AppEntries: u64 count, count x (u64 size, raftpb.Entry), u64 commit. The message header is
//     implied: From = remote, To = local, Term = LogTerm = last term, Index = last index.
//   2 full message: u64 size, raftpb.Message; it resets the term/index bookkeeping.
// Both ends track (term, index) the same way, so the encoder may only use AppEntries when the
// message continues exactly where the previous one ended, in the same term.
import EtcdProto
import NIOCore
import Raft

enum MsgAppV2 {
    static let linkHeartbeat: UInt8 = 0
    static let appEntries: UInt8 = 1
    static let app: UInt8 = 2
}

/// Encoder state of one msgappv2 connection (a fresh one per connection, as etcd does).
public struct MsgAppV2Encoder: Sendable {
    var term: UInt64 = 0
    var index: UInt64 = 0

    public init() {}

    public mutating func encodeLinkHeartbeat(into buffer: inout ByteBuffer) {
        buffer.writeInteger(MsgAppV2.linkHeartbeat)
    }

    public mutating func encode(_ m: Raft.Message, into buffer: inout ByteBuffer) {
        if m.type == .heartbeat, m.from == 0, m.to == 0 {
            encodeLinkHeartbeat(into: &buffer)
        } else if index == m.index, term == m.logTerm, m.logTerm == m.term {
            buffer.writeInteger(MsgAppV2.appEntries)
            buffer.writeInteger(UInt64(m.entries.count), endianness: .big)
            for e in m.entries {
                Raftpb_Entry(e).withSerializer { size, write in
                    buffer.writeInteger(UInt64(size), endianness: .big)
                    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { write($0) }
                }
                index += 1
            }
            buffer.writeInteger(m.commit, endianness: .big)
        } else {
            buffer.writeInteger(MsgAppV2.app)
            MessageFraming.encode(m, into: &buffer)
            term = m.term
            index = m.entries.last?.index ?? m.index
        }
    }
}

/// Incremental msgappv2 decoder. A record is decoded only once all of its bytes are buffered;
/// `needed` remembers how far the last scan got so slow streams are not rescanned per chunk.
public struct MsgAppV2Decoder: Sendable {
    public let local: UInt64
    public let remote: UInt64
    public let maxMessageBytes: Int
    public var buffer = ByteBuffer()
    var term: UInt64 = 0
    var index: UInt64 = 0
    private var needed = 1

    public init(local: UInt64, remote: UInt64, maxMessageBytes: Int) {
        self.local = local
        self.remote = remote
        self.maxMessageBytes = maxMessageBytes
    }

    public mutating func feed(_ chunk: ByteBuffer) {
        var chunk = chunk
        buffer.writeBuffer(&chunk)
    }

    /// The next record as a raftpb message (link heartbeats come back as etcd's linkHeartbeat
    /// message), nil when more bytes are needed.
    public mutating func next() throws(CodecError) -> Raftpb_Message? {
        guard buffer.readableBytes >= needed else { return nil }
        guard let length = try scan() else { return nil }
        let start = buffer.readerIndex
        let m: Raftpb_Message
        switch buffer.getInteger(at: start, as: UInt8.self)! {
        case MsgAppV2.linkHeartbeat:
            m = Raftpb_Message.linkHeartbeat
        case MsgAppV2.appEntries:
            m = try decodeAppEntries(at: start + 1)
        default:
            let size = Int(buffer.getInteger(at: start + 1, endianness: .big, as: UInt64.self)!)
            m = try MessageFraming.decodeMessage(buffer, at: 9, count: size)
            term = m.term ?? 0
            index = m.entries.last?.index ?? (m.index ?? 0)
        }
        buffer.moveReaderIndex(forwardBy: length)
        needed = 1
        if buffer.readableBytes == 0 { buffer.clear() } else if buffer.readerIndex > 1 << 20 { buffer.discardReadBytes() }
        return m
    }

    /// Length of the complete record at the reader index, or nil (with `needed` updated).
    private mutating func scan() throws(CodecError) -> Int? {
        let base = buffer.readerIndex
        let avail = buffer.readableBytes
        guard let type = buffer.getInteger(at: base, as: UInt8.self) else { return nil }
        func u64(_ off: Int) -> UInt64? { buffer.getInteger(at: base + off, endianness: .big, as: UInt64.self) }
        switch type {
        case MsgAppV2.linkHeartbeat:
            return 1
        case MsgAppV2.app:
            guard let size = u64(1) else { needed = 9; return nil }
            guard size <= UInt64(maxMessageBytes) else { throw .exceedsLimit(size) }
            let total = 9 + Int(size)
            guard avail >= total else { needed = total; return nil }
            return total
        case MsgAppV2.appEntries:
            guard let count = u64(1) else { needed = 9; return nil }
            // Every entry costs at least its 8-byte size prefix.
            guard count <= UInt64(maxMessageBytes / 8) else { throw .tooManyEntries(count) }
            var off = 9
            for _ in 0..<Int(count) {
                guard let size = u64(off) else { needed = off + 8; return nil }
                guard size <= UInt64(maxMessageBytes), off + 8 + Int(size) - 9 <= maxMessageBytes else {
                    throw .exceedsLimit(size)
                }
                off += 8 + Int(size)
                guard avail >= off else { needed = off; return nil }
            }
            guard avail >= off + 8 else { needed = off + 8; return nil }
            return off + 8
        default:
            throw .unknownRecordType(type)
        }
    }

    private mutating func decodeAppEntries(at start: Int) throws(CodecError) -> Raftpb_Message {
        var m = Raftpb_Message()
        m.type = .msgApp
        m.from = remote
        m.to = local
        m.term = term
        m.logTerm = term
        m.index = index
        let count = Int(buffer.getInteger(at: start, endianness: .big, as: UInt64.self)!)
        var off = start + 8
        m.entries.reserveCapacity(count)
        for _ in 0..<count {
            let size = Int(buffer.getInteger(at: off, endianness: .big, as: UInt64.self)!)
            let rel = off + 8 - buffer.readerIndex
            let entry: Raftpb_Entry? = buffer.withUnsafeReadableBytes { raw in
                try? Raftpb_Entry(serializedBytes: UnsafeRawBufferPointer(rebasing: raw[rel..<rel + size]))
            }
            guard let entry else { throw .malformedEntry }
            m.entries.append(entry)
            index += 1
            off += 8 + size
        }
        m.commit = buffer.getInteger(at: off, endianness: .big, as: UInt64.self)!
        m.snapshot = .goEmpty
        return m
    }
}
