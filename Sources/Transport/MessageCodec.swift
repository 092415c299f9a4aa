// The "message" stream and the snapshot body prefix: each raftpb.Message as an 8-byte big-endian
// length followed by its encoding (rafthttp msg_codec.go). The decoder is an incremental state
// machine over a ByteBuffer that accumulates whatever chunks the socket delivered.
import EtcdProto
import NIOCore
import Raft

/// A stream or body that cannot be decoded; the connection carrying it is closed.
public enum CodecError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A frame announces more bytes than the configured limit (etcd: "rafthttp: error limit exceeded").
    case exceedsLimit(UInt64)
    case malformedMessage
    case malformedEntry
    /// msgappv2 record type other than 0, 1, 2.
    case unknownRecordType(UInt8)
    /// msgappv2 AppEntries announcing more entries than could fit in the limit.
    case tooManyEntries(UInt64)

    public var description: String {
        switch self {
        case .exceedsLimit(let n): return "rafthttp: error limit exceeded (frame of \(n) bytes)"
        case .malformedMessage: return "malformed raftpb.Message"
        case .malformedEntry: return "malformed raftpb.Entry"
        case .unknownRecordType(let t): return "failed to parse type \(t) in msgappv2 stream"
        case .tooManyEntries(let n): return "msgappv2 record announces \(n) entries"
        }
    }
}

enum MessageFraming {
    /// Appends `len(m) || m` (big-endian u64 length).
    static func encode(_ m: Raftpb_Message, into buffer: inout ByteBuffer) {
        m.withSerializer { size, write in
            buffer.writeInteger(UInt64(size), endianness: .big)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { write($0) }
        }
    }

    static func encode(_ m: Raft.Message, into buffer: inout ByteBuffer) {
        encode(Raftpb_Message(m), into: &buffer)
    }

    /// Decodes `count` bytes at the reader index without copying them out of the buffer.
    static func decodeMessage(_ buffer: ByteBuffer, at offset: Int, count: Int) throws(CodecError) -> Raftpb_Message {
        let m: Raftpb_Message? = buffer.withUnsafeReadableBytes { raw in
            try? Raftpb_Message(serializedBytes: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + count]))
        }
        guard let m else { throw .malformedMessage }
        return m
    }
}

/// Incremental decoder for the "message" stream. Feed it by appending to `buffer`; `next()`
/// returns complete messages and leaves partial frames in place.
public struct MessageStreamDecoder: Sendable {
    public let maxMessageBytes: Int
    public var buffer = ByteBuffer()

    public init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    public mutating func feed(_ chunk: ByteBuffer) {
        var chunk = chunk
        buffer.writeBuffer(&chunk)
    }

    /// The next whole message, nil when more bytes are needed. Throws on an oversized announcement
    /// (before any of its payload is buffered) or undecodable bytes.
    public mutating func next() throws(CodecError) -> Raftpb_Message? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt64.self) else {
            return nil
        }
        guard length <= UInt64(maxMessageBytes) else { throw .exceedsLimit(length) }
        let n = Int(length)
        guard buffer.readableBytes >= 8 + n else { return nil }
        let m = try MessageFraming.decodeMessage(buffer, at: 8, count: n)
        buffer.moveReaderIndex(forwardBy: 8 + n)
        if buffer.readableBytes == 0 { buffer.clear() } else if buffer.readerIndex > 1 << 20 { buffer.discardReadBytes() }
        return m
    }
}
