import EtcdProto
import MVCC
import NIOCore

/// Encodes the event responses of one batch of a watch stream. The watchers of a stream that match
/// one write get responses that differ only in their watch id, and share the write's events array
/// (the store hands every plain watcher the same one). So the header of a revision and the events
/// of an array are encoded once per batch, and each response is the header, its watch id and those
/// bytes: the same bytes the generic encoder writes (fields in number order, proto3 defaults left
/// out), without converting the key-values to C messages again for every watcher.
struct WatchResponseEncoder {
    private let header: (Int64) -> Etcdserverpb_ResponseHeader
    private var headerRevision: Int64 = -1
    private var headerField: [UInt8] = []
    /// The storage of the events array encoded last (all of the batch's arrays are alive while it
    /// is encoded, so an address names one array), and its encoded `events` fields.
    private var eventsStorage: UnsafeRawPointer?
    private var eventsCount = 0
    private var eventsFields: [UInt8] = []

    init(header: @escaping (Int64) -> Etcdserverpb_ResponseHeader) { self.header = header }

    /// The message bytes of `w` when it is a plain event response (events, no flags), nil for
    /// anything else (created, canceled, compacted, progress), which the caller encodes in full.
    mutating func encode(_ w: WatchResponse) -> ByteBuffer? {
        guard !w.events.isEmpty, !w.created, !w.canceled, w.compactRevision == 0, w.cancelReason.isEmpty else { return nil }
        if w.revision != headerRevision {
            headerRevision = w.revision
            headerField = []
            Self.appendField(1, ProtoCodec.encode(header(w.revision)), to: &headerField)
        }
        let storage = w.events.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        if storage != eventsStorage || w.events.count != eventsCount {
            eventsStorage = storage
            eventsCount = w.events.count
            eventsFields = []
            for e in w.events { Self.appendField(11, ProtoCodec.encode(e.proto), to: &eventsFields) }
        }
        var out = ProtoCodec.allocator.buffer(capacity: headerField.count + 11 + eventsFields.count)
        out.writeBytes(headerField)
        if w.watchID != 0 {
            out.writeInteger(UInt8(2 << 3))
            Self.varint(UInt64(bitPattern: w.watchID)) { out.writeInteger($0) }
        }
        out.writeBytes(eventsFields)
        return out
    }

    /// A length-delimited field (wire type 2).
    private static func appendField(_ number: UInt8, _ message: ByteBuffer, to bytes: inout [UInt8]) {
        bytes.append(number << 3 | 2)
        varint(UInt64(message.readableBytes)) { bytes.append($0) }
        message.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
    }

    /// The bytes of `value` as a protobuf varint, least significant group first.
    private static func varint(_ value: UInt64, _ put: (UInt8) -> Void) {
        var v = value
        while v >= 0x80 {
            put(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        put(UInt8(v))
    }
}
