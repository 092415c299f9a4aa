import Raft

/// The test harness's own application encoding of a ``ConfChange`` (raft treats `.confChange`
/// entry data as opaque; etcd's server uses raftpb.ConfChange protobuf bytes instead): the type
/// byte, then `id` and `nodeID` as varints, then the context bytes.
public enum ConfChangeCodec {
    public static func encode(_ cc: ConfChange) -> [UInt8] {
        var out: [UInt8] = [cc.type.rawValue]
        appendVarint(cc.id, to: &out)
        appendVarint(cc.nodeID, to: &out)
        out.append(contentsOf: cc.context)
        return out
    }

    /// Decodes `encode` output; nil when the bytes are malformed.
    public static func decode(_ bytes: [UInt8]) -> ConfChange? {
        guard let first = bytes.first, let t = ConfChangeType(rawValue: first) else { return nil }
        var pos = 1
        guard let id = readVarint(bytes, &pos), let node = readVarint(bytes, &pos) else { return nil }
        return ConfChange(id: id, type: t, nodeID: node, context: Array(bytes[pos...]))
    }

    /// The `bootstrap` peers for founding members `ids`: one encoded `.addNode` change each.
    public static func bootstrapPeers(_ ids: [UInt64]) -> [(id: UInt64, data: [UInt8])] {
        ids.map { (id: $0, data: encode(ConfChange(type: .addNode, nodeID: $0))) }
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func readVarint(_ bytes: [UInt8], _ pos: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while pos < bytes.count, shift < 64 {
            let b = bytes[pos]
            pos += 1
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
        }
        return nil
    }
}

extension RawNode {
    /// Proposes `cc` in the harness's encoding (``ConfChangeCodec``).
    public func proposeConfChange(_ cc: ConfChange) throws(RaftError) {
        try proposeConfChange(data: ConfChangeCodec.encode(cc))
    }
}
