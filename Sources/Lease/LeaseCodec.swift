import Storage

/// The `lease` bucket's record format, byte-compatible with etcd's bbolt file:
/// key = the lease ID as 8 big-endian bytes; value = the protobuf wire encoding of
/// `leasepb.Lease { int64 ID = 1; int64 TTL = 2; int64 RemainingTTL = 3; }`.
///
/// This is the only message the Lease module encodes, so a hand codec of three varint fields
/// replaces a protobuf dependency (DESIGN.md keeps protobuf in API and Transport).
enum LeaseCodec {
    struct Record: Equatable {
        var id: Int64
        var ttl: Int64
        var remainingTTL: Int64
    }

    static func key(_ id: Int64) -> [UInt8] {
        let u = UInt64(bitPattern: id)
        return (0..<8).map { UInt8(truncatingIfNeeded: u >> (56 - 8 * UInt64($0))) }
    }

    /// proto3 encoding: fields in number order, zero values omitted, int64 as the varint of its
    /// two's complement (10 bytes when negative), as gogoproto writes it.
    static func encode(_ r: Record) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        for (field, value) in [(UInt8(1), r.id), (2, r.ttl), (3, r.remainingTTL)] where value != 0 {
            out.append(field << 3)  // wire type 0 (varint)
            var v = UInt64(bitPattern: value)
            while v >= 0x80 {
                out.append(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }
        return out
    }

    /// Decodes a record, skipping unknown fields; nil when the bytes are not a valid message.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Record? {
        var r = Record(id: 0, ttl: 0, remainingTTL: 0)
        var i = 0
        func varint() -> UInt64? {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count, shift < 64 {
                let b = bytes[i]
                i += 1
                v |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return v }
                shift += 7
            }
            return nil
        }
        while i < bytes.count {
            guard let tag = varint(), tag >> 3 != 0 else { return nil }
            switch tag & 7 {
            case 0:
                guard let v = varint() else { return nil }
                switch tag >> 3 {
                case 1: r.id = Int64(bitPattern: v)
                case 2: r.ttl = Int64(bitPattern: v)
                case 3: r.remainingTTL = Int64(bitPattern: v)
                default: break
                }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let n = varint(), n <= UInt64(bytes.count - i) else { return nil }
                i += Int(n)
            default: return nil
            }
            if i > bytes.count { return nil }
        }
        return r
    }
}
