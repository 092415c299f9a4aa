import GoSyntax
import CProtobufC

/// JSON -> protobuf, by descriptor, as grpc-gateway reads a request body in etcd 3.4 (golang/protobuf
/// 1.3 jsonpb, unknown fields allowed): field names as in the .proto or lowerCamelCase, 64-bit
/// integers as numbers or strings, bytes as standard base64, enums by name or number, `null` as
/// absent. The JSON fills a protobuf-c message, which protobuf-c packs; errors carry Go's texts.
public enum ProtoJSONReader {
    /// The protobuf encoding of the message `json` describes.
    public static func protobuf(from json: JSONValue, as descriptor: MessageDescriptor) -> Result<[UInt8], JSONError> {
        let builder = MessageBuilder()
        do {
            let message = try builder.message(json, descriptor)
            let c = UnsafePointer(message.assumingMemoryBound(to: ProtobufCMessage.self))
            let size = protobuf_c_message_get_packed_size(c)
            guard size > 0 else { return .success([]) }
            return .success([UInt8](unsafeUninitializedCapacity: size) { buffer, count in
                count = protobuf_c_message_pack(c, buffer.baseAddress!)
            })
        } catch {
            return .failure(error)
        }
    }
}

/// Builds one C message tree in an arena.
private final class MessageBuilder {
    let arena = CArena()

    func message(_ json: JSONValue, _ d: MessageDescriptor) throws(JSONError) -> UnsafeMutableRawPointer {
        let m = arena.allocate(Int(d.pointee.sizeof_message))
        protobuf_c_message_init(d, m)
        let members: [(String, JSONValue)]
        switch json {
        case .null: return m
        case .object(let o): members = o
        default: throw typeError(json, "map[string]json.RawMessage")
        }
        var byName: [String: JSONValue] = [:]
        for (name, value) in members { byName[name] = value }
        let fields = d.fieldViews
        // jsonpb reads the plain fields first, then the oneof members.
        for oneofPass in [false, true] {
            for f in fields where f.isOneof == oneofPass {
                var value = byName[f.name]
                let camel = f.camelName
                if camel != f.name, let v = byName[camel] { value = v }
                guard let value else { continue }
                try set(f, value, in: m)
            }
        }
        return m
    }

    private func set(_ f: FieldView, _ value: JSONValue, in m: UnsafeMutableRawPointer) throws(JSONError) {
        if f.isRepeated {
            let elements: [JSONValue]
            switch value {
            case .null: return
            case .array(let a): elements = a
            default: throw typeError(value, "[]json.RawMessage")
            }
            guard !elements.isEmpty else { return }
            let size = f.elementSize
            let array = arena.allocate(size * elements.count)
            for (i, e) in elements.enumerated() { _ = try store(f, e, at: array + i * size, always: true) }
            (m + f.quantifierOffset).storeBytes(of: elements.count, as: Int.self)
            (m + f.offset).storeBytes(of: array, as: UnsafeMutableRawPointer?.self)
            return
        }
        if f.isOneof {
            // jsonpb sets a oneof member that is named, even to null (its zero value).
            _ = try store(f, value, at: m + f.offset, always: true)
            (m + f.quantifierOffset).storeBytes(of: f.id, as: UInt32.self)
            return
        }
        let stored = try store(f, value, at: m + f.offset, always: false)
        if stored, f.isOptional, f.type != PROTOBUF_C_TYPE_MESSAGE, f.type != PROTOBUF_C_TYPE_STRING {
            (m + f.quantifierOffset).storeBytes(of: 1, as: Int32.self)
        }
    }

    /// Stores one value at `p`; returns false when `null` left it unset. `always` gives null a zero
    /// value (oneof members and repeated elements cannot be absent).
    private func store(_ f: FieldView, _ value: JSONValue, at p: UnsafeMutableRawPointer, always: Bool) throws(JSONError) -> Bool {
        if case .null = value, !always { return false }
        switch f.type {
        case PROTOBUF_C_TYPE_MESSAGE:
            p.storeBytes(of: try message(value, f.message!), as: UnsafeMutableRawPointer?.self)
        case PROTOBUF_C_TYPE_STRING:
            switch value {
            case .null: p.storeBytes(of: arena.cString(""), as: UnsafeMutablePointer<CChar>?.self)
            case .string(let s): p.storeBytes(of: arena.cString(s), as: UnsafeMutablePointer<CChar>?.self)
            default: throw typeError(value, "string")
            }
        case PROTOBUF_C_TYPE_BYTES:
            var data: [UInt8] = []
            switch value {
            case .null: break
            case .string(let s): data = try Base64.decode(s).get()
            default: throw typeError(value, "[]uint8")
            }
            var binary = ProtobufCBinaryData(len: data.count, data: nil)
            if !data.isEmpty {
                let copy = arena.allocate(data.count)
                data.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
                binary.data = copy.assumingMemoryBound(to: UInt8.self)
            }
            p.storeBytes(of: binary, as: ProtobufCBinaryData.self)
        case PROTOBUF_C_TYPE_BOOL:
            switch value {
            case .null: p.storeBytes(of: 0, as: Int32.self)
            case .bool(let b): p.storeBytes(of: b ? 1 : 0, as: Int32.self)
            default: throw typeError(value, "bool")
            }
        case PROTOBUF_C_TYPE_ENUM:
            p.storeBytes(of: try enumValue(f, value), as: Int32.self)
        default:
            try storeNumber(f, value, at: p)
        }
        return true
    }

    private func enumValue(_ f: FieldView, _ value: JSONValue) throws(JSONError) -> Int32 {
        switch value {
        case .null: return 0
        case .string(let name):
            if let e = f.enumeration, let v = protobuf_c_enum_descriptor_get_value_by_name(e, name) {
                return Int32(v.pointee.value)
            }
            throw JSONError("unknown value \(GoSyntax.quote(name)) for enum \(f.goTypeName)")
        case .number(let text):
            guard let v = Int32(exactly: text) else { throw JSONError("json: cannot unmarshal number \(text) into Go value of type \(f.goTypeName)") }
            return v
        default:
            throw typeError(value, f.goTypeName)
        }
    }

    /// Numbers, also when quoted: jsonpb drops the quotes and parses what is inside as JSON.
    private func storeNumber(_ f: FieldView, _ value: JSONValue, at p: UnsafeMutableRawPointer) throws(JSONError) {
        var literal: String
        switch value {
        case .null: literal = "0"
        case .number(let text): literal = text
        case .string(let s):
            switch JSONParser.whole(Array(s.utf8)) {
            case .failure(let e): throw e
            case .success(.number(let text)): literal = text
            case .success(.null): literal = "0"
            case .success(let other): throw typeError(other, f.goTypeName)
            }
        default: throw typeError(value, f.goTypeName)
        }
        let failure = JSONError("json: cannot unmarshal number \(literal) into Go value of type \(f.goTypeName)")
        switch f.type {
        case PROTOBUF_C_TYPE_INT32, PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_SFIXED32:
            guard let v = Int32(exactly: literal) else { throw failure }
            p.storeBytes(of: v, as: Int32.self)
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64:
            guard let v = Int64(exactly: literal) else { throw failure }
            p.storeBytes(of: v, as: Int64.self)
        case PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_FIXED32:
            guard let v = UInt32(exactly: literal) else { throw failure }
            p.storeBytes(of: v, as: UInt32.self)
        case PROTOBUF_C_TYPE_UINT64, PROTOBUF_C_TYPE_FIXED64:
            guard let v = UInt64(exactly: literal) else { throw failure }
            p.storeBytes(of: v, as: UInt64.self)
        case PROTOBUF_C_TYPE_FLOAT:
            guard let v = Float(literal) else { throw failure }
            p.storeBytes(of: v, as: Float.self)
        case PROTOBUF_C_TYPE_DOUBLE:
            guard let v = Double(literal) else { throw failure }
            p.storeBytes(of: v, as: Double.self)
        default:
            throw failure
        }
    }
}

private func typeError(_ value: JSONValue, _ goType: String) -> JSONError {
    JSONError("json: cannot unmarshal \(value.goKind) into Go value of type \(goType)")
}


extension FixedWidthInteger {
    /// Parses a JSON integer literal as Go's strconv.ParseInt/ParseUint does: decimal digits only (no
    /// fraction or exponent), in range.
    init?(exactly literal: String) {
        var digits = Substring(literal)
        var negative = false
        if digits.first == "-" {
            negative = true
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        if negative && !Self.isSigned { return nil }
        var value: Self = 0
        for d in digits.utf8 {
            let digit = Self(d - UInt8(ascii: "0"))
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(digit) : m.addingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = s
        }
        self = value
    }
}
