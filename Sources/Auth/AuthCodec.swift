/// The `authUsers` and `authRoles` values, byte-compatible with etcd's bbolt file: the protobuf
/// wire form of authpb.User and authpb.Role as gogoproto writes them (fields in number order,
/// empty scalars left out, a present sub-message written even when empty).
///
/// Three small messages, so a hand codec keeps protobuf out of this module (DESIGN.md keeps it in
/// API, Server and Transport).
enum AuthCodec {
    static func encode(_ u: User) -> [UInt8] {
        var w = ProtoWriter()
        w.bytes(1, Array(u.name.utf8))
        w.bytes(2, u.password)
        for role in u.roles { w.bytes(3, Array(role.utf8), always: true) }
        if let o = u.options {
            var ow = ProtoWriter()
            if o.noPassword { ow.varint(1, 1) }
            w.bytes(4, ow.out, always: true)
        }
        return w.out
    }

    static func encode(_ r: Role) -> [UInt8] {
        var w = ProtoWriter()
        w.bytes(1, Array(r.name.utf8))
        for p in r.permissions { w.bytes(2, encode(p), always: true) }
        return w.out
    }

    static func encode(_ p: Permission) -> [UInt8] {
        var w = ProtoWriter()
        if p.type != .read { w.varint(1, UInt64(p.type.rawValue)) }
        w.bytes(2, p.key)
        w.bytes(3, p.rangeEnd)
        return w.out
    }

    static func decodeUser(_ bytes: [UInt8]) -> User? {
        var u = User(name: "", options: nil)
        var r = ProtoReader(bytes)
        while let field = r.next() {
            switch field {
            case .bytes(1, let v): u.name = String(decoding: v, as: UTF8.self)
            case .bytes(2, let v): u.password = v
            case .bytes(3, let v): u.roles.append(String(decoding: v, as: UTF8.self))
            case .bytes(4, let v):
                var o = UserOptions()
                var or = ProtoReader(v)
                while let f = or.next() { if case .varint(1, let x) = f { o.noPassword = x != 0 } }
                if or.failed { return nil }
                u.options = o
            default: break
            }
        }
        return r.failed ? nil : u
    }

    static func decodeRole(_ bytes: [UInt8]) -> Role? {
        var role = Role(name: "")
        var r = ProtoReader(bytes)
        while let field = r.next() {
            switch field {
            case .bytes(1, let v): role.name = String(decoding: v, as: UTF8.self)
            case .bytes(2, let v):
                guard let p = decodePermission(v) else { return nil }
                role.permissions.append(p)
            default: break
            }
        }
        return r.failed ? nil : role
    }

    static func decodePermission(_ bytes: [UInt8]) -> Permission? {
        var p = Permission(type: .read, key: [])
        var r = ProtoReader(bytes)
        while let field = r.next() {
            switch field {
            case .varint(1, let v):
                guard let t = PermissionType(rawValue: Int(truncatingIfNeeded: v)) else { return nil }
                p.type = t
            case .bytes(2, let v): p.key = v
            case .bytes(3, let v): p.rangeEnd = v
            default: break
            }
        }
        return r.failed ? nil : p
    }
}

struct ProtoWriter {
    var out: [UInt8] = []

    mutating func varint(_ field: Int, _ v: UInt64) {
        rawVarint(UInt64(field) << 3)
        rawVarint(v)
    }

    /// A length-delimited field; empty ones are left out unless `always` (repeated elements and
    /// present sub-messages).
    mutating func bytes(_ field: Int, _ v: [UInt8], always: Bool = false) {
        if v.isEmpty && !always { return }
        rawVarint(UInt64(field) << 3 | 2)
        rawVarint(UInt64(v.count))
        out += v
    }

    private mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}

/// Reads fields until the end or the first malformed byte (then `failed` is set).
struct ProtoReader {
    enum Field {
        case varint(Int, UInt64)
        case bytes(Int, [UInt8])
        case other
    }

    private let data: [UInt8]
    private var i = 0
    private(set) var failed = false

    init(_ data: [UInt8]) { self.data = data }

    mutating func next() -> Field? {
        guard i < data.count, !failed else { return nil }
        guard let tag = varint(), tag >> 3 != 0, tag >> 3 <= UInt64(Int32.max) else { return fail() }
        let field = Int(tag >> 3)
        switch tag & 7 {
        case 0:
            guard let v = varint() else { return fail() }
            return .varint(field, v)
        case 1, 5:
            let n = tag & 7 == 1 ? 8 : 4
            guard data.count - i >= n else { return fail() }
            i += n
            return .other
        case 2:
            guard let n = varint(), n <= UInt64(data.count - i) else { return fail() }
            let v = Array(data[i..<(i + Int(n))])
            i += Int(n)
            return .bytes(field, v)
        default:
            return fail()
        }
    }

    private mutating func fail() -> Field? {
        failed = true
        return nil
    }

    private mutating func varint() -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while i < data.count, shift < 64 {
            let b = data[i]
            i += 1
            v |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return v }
            shift += 7
        }
        return nil
    }
}
