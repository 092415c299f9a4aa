/// A key's state at one revision (mvccpb.KeyValue).
public struct KeyValue: Sendable, Equatable {
    public var key: [UInt8]
    /// Revision of the put that created this generation of the key.
    public var createRevision: Int64
    /// Revision of the last change.
    public var modRevision: Int64
    /// Number of puts in this generation (1 after creation); a delete resets it.
    public var version: Int64
    public var value: [UInt8]
    /// Attached lease id, 0 for none.
    public var lease: Int64

    public init(key: [UInt8], createRevision: Int64 = 0, modRevision: Int64 = 0, version: Int64 = 0,
                value: [UInt8] = [], lease: Int64 = 0) {
        self.key = key
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.value = value
        self.lease = lease
    }
}

/// The protobuf wire form of mvccpb.KeyValue, which the `key` bucket stores (as etcd does, so the
/// bytes and HashKV match). This is the only message MVCC encodes, so a hand codec for its six
/// fields stands in for a protobuf library here. Zero and empty fields are omitted, as gogo's
/// marshaller does.
enum KeyValueCodec {
    static func encode(_ kv: KeyValue) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(kv.key.count + kv.value.count + 40)
        if !kv.key.isEmpty { b.append(0x0A); putVarint(&b, UInt64(kv.key.count)); b.append(contentsOf: kv.key) }
        if kv.createRevision != 0 { b.append(0x10); putVarint(&b, UInt64(bitPattern: kv.createRevision)) }
        if kv.modRevision != 0 { b.append(0x18); putVarint(&b, UInt64(bitPattern: kv.modRevision)) }
        if kv.version != 0 { b.append(0x20); putVarint(&b, UInt64(bitPattern: kv.version)) }
        if !kv.value.isEmpty { b.append(0x2A); putVarint(&b, UInt64(kv.value.count)); b.append(contentsOf: kv.value) }
        if kv.lease != 0 { b.append(0x30); putVarint(&b, UInt64(bitPattern: kv.lease)) }
        return b
    }

    /// Decodes; unknown fields are skipped. `skipValue` leaves `value` empty (keys_only).
    static func decode(_ p: UnsafeRawBufferPointer, skipValue: Bool = false) throws(MVCCError) -> KeyValue {
        var kv = KeyValue(key: [])
        var i = 0
        let n = p.count
        func varint() throws(MVCCError) -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while i < n && shift < 64 {
                let byte = p[i]
                i += 1
                v |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return v }
                shift += 7
            }
            throw .corrupt("bad varint in stored KeyValue")
        }
        func bytes() throws(MVCCError) -> UnsafeRawBufferPointer {
            let len = try varint()
            guard len <= UInt64(n - i) else { throw .corrupt("truncated field in stored KeyValue") }
            defer { i += Int(len) }
            return UnsafeRawBufferPointer(rebasing: p[i..<(i + Int(len))])
        }
        while i < n {
            let tag = try varint()
            switch (tag >> 3, tag & 7) {
            case (1, 2): kv.key = [UInt8](try bytes())
            case (2, 0): kv.createRevision = Int64(bitPattern: try varint())
            case (3, 0): kv.modRevision = Int64(bitPattern: try varint())
            case (4, 0): kv.version = Int64(bitPattern: try varint())
            case (5, 2):
                let v = try bytes()
                if !skipValue { kv.value = [UInt8](v) }
            case (6, 0): kv.lease = Int64(bitPattern: try varint())
            case (_, 0): _ = try varint()
            case (_, 1): i += 8
            case (_, 2): _ = try bytes()
            case (_, 5): i += 4
            default: throw .corrupt("bad wire type in stored KeyValue")
            }
        }
        guard i == n else { throw .corrupt("truncated stored KeyValue") }
        return kv
    }

    @inline(__always) static func putVarint(_ b: inout [UInt8], _ v: UInt64) {
        var v = v
        while v >= 0x80 { b.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        b.append(UInt8(v))
    }
}
