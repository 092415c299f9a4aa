import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A protobuf-c message descriptor: every message's field names, numbers, types, labels and nested
/// descriptors, which is all the JSON codec needs (no per-message code).
public typealias MessageDescriptor = UnsafePointer<ProtobufCMessageDescriptor>

/// What the codec reads from one field descriptor.
struct FieldView {
    let d: UnsafePointer<ProtobufCFieldDescriptor>

    var name: String { String(cString: d.pointee.name) }
    var type: ProtobufCType { d.pointee.type }
    var isRepeated: Bool { d.pointee.label == PROTOBUF_C_LABEL_REPEATED }
    var isOptional: Bool { d.pointee.label == PROTOBUF_C_LABEL_OPTIONAL }
    var isOneof: Bool { d.pointee.flags & PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue != 0 }
    var id: UInt32 { d.pointee.id }
    var offset: Int { Int(d.pointee.offset) }
    var quantifierOffset: Int { Int(d.pointee.quantifier_offset) }

    var message: MessageDescriptor? {
        d.pointee.descriptor.map { $0.assumingMemoryBound(to: ProtobufCMessageDescriptor.self) }
    }

    var enumeration: UnsafePointer<ProtobufCEnumDescriptor>? {
        d.pointee.descriptor.map { $0.assumingMemoryBound(to: ProtobufCEnumDescriptor.self) }
    }

    /// protoc's JSON name (lowerCamelCase: `range_end` -> `rangeEnd`), the other name jsonpb accepts.
    var camelName: String {
        var out = ""
        var upper = false
        for ch in name {
            if ch == "_" {
                upper = true
            } else if upper {
                out += ch.uppercased()
                upper = false
            } else {
                out.append(ch)
            }
        }
        return out
    }

    /// The bytes one element of this field takes in a protobuf-c struct or array.
    var elementSize: Int {
        switch type {
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64, PROTOBUF_C_TYPE_UINT64,
            PROTOBUF_C_TYPE_FIXED64, PROTOBUF_C_TYPE_DOUBLE:
            8
        case PROTOBUF_C_TYPE_STRING, PROTOBUF_C_TYPE_MESSAGE: MemoryLayout<UnsafeRawPointer>.size
        case PROTOBUF_C_TYPE_BYTES: MemoryLayout<ProtobufCBinaryData>.size
        default: 4
        }
    }

    /// The Go type name jsonpb's errors print for this field's scalar type.
    var goTypeName: String {
        switch type {
        case PROTOBUF_C_TYPE_INT32, PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_SFIXED32: "int32"
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64: "int64"
        case PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_FIXED32: "uint32"
        case PROTOBUF_C_TYPE_UINT64, PROTOBUF_C_TYPE_FIXED64: "uint64"
        case PROTOBUF_C_TYPE_FLOAT: "float32"
        case PROTOBUF_C_TYPE_DOUBLE: "float64"
        case PROTOBUF_C_TYPE_BOOL: "bool"
        case PROTOBUF_C_TYPE_STRING: "string"
        case PROTOBUF_C_TYPE_BYTES: "[]uint8"
        case PROTOBUF_C_TYPE_ENUM: enumeration.map(Self.goEnumName) ?? "int32"
        default: "map[string]json.RawMessage"
        }
    }

    /// Go's name of a generated enum type: `etcdserverpb.Compare.CompareResult` is
    /// `etcdserverpb.Compare_CompareResult`.
    static func goEnumName(_ e: UnsafePointer<ProtobufCEnumDescriptor>) -> String {
        let full = String(cString: e.pointee.name)
        let package = String(cString: e.pointee.package_name)
        guard !package.isEmpty, full.hasPrefix(package + ".") else { return full.replacingOccurrences(".", "_") }
        return package + "." + String(full.dropFirst(package.count + 1)).replacingOccurrences(".", "_")
    }
}

extension String {
    fileprivate func replacingOccurrences(_ a: Character, _ b: Character) -> String {
        String(map { $0 == a ? b : $0 })
    }
}

extension UnsafePointer where Pointee == ProtobufCMessageDescriptor {
    /// The fields in the order of the descriptor (protoc-c writes them by number; for every message the
    /// gateway carries that is also their order in the .proto, which is the order Go's jsonpb writes).
    var fieldViews: [FieldView] {
        (0..<Int(pointee.n_fields)).map { FieldView(d: pointee.fields + $0) }
    }

    var fullName: String { String(cString: pointee.name) }
}

/// Memory for building C messages: everything is freed together when the arena goes away.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit {
        for b in blocks { free(b) }
    }

    /// Zeroed memory for `size` bytes.
    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        guard let p = calloc(1, max(size, 1)) else { fatalError("out of memory building a protobuf message") }
        blocks.append(p)
        return p
    }

    /// A NUL-terminated copy of `s`.
    func cString(_ s: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(s.utf8)
        let p = allocate(utf8.count + 1)
        if !utf8.isEmpty { utf8.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: utf8.count) } }
        return p.assumingMemoryBound(to: CChar.self)
    }
}
