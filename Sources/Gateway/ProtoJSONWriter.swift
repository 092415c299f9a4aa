import CProtobufC

/// protobuf -> JSON, by descriptor, as grpc-gateway writes a response in etcd 3.4 (golang/protobuf 1.3
/// jsonpb with `OrigName: true`): .proto field names, fields in declaration order, zero values and
/// empty lists left out (a oneof member that is set is written even when zero), 64-bit integers as
/// strings, bytes as standard base64, enums by name (an unknown value as its number).
public enum ProtoJSONWriter {
    /// The JSON of the protobuf `bytes` of a `descriptor` message; nil if the bytes do not decode.
    public static func json(fromProtobuf bytes: UnsafeRawBufferPointer, as descriptor: MessageDescriptor) -> [UInt8]? {
        var w = JSONWriter()
        guard append(bytes, as: descriptor, to: &w) else { return nil }
        return w.bytes
    }

    static func append(_ bytes: UnsafeRawBufferPointer, as descriptor: MessageDescriptor, to w: inout JSONWriter) -> Bool {
        // protobuf-c reads nothing when the length is 0, but wants a pointer.
        let unpacked: UnsafeMutablePointer<ProtobufCMessage>? = if let base = bytes.baseAddress {
            protobuf_c_message_unpack(descriptor, nil, bytes.count, base.assumingMemoryBound(to: UInt8.self))
        } else {
            [UInt8(0)].withUnsafeBufferPointer { protobuf_c_message_unpack(descriptor, nil, 0, $0.baseAddress!) }
        }
        guard let m = unpacked else { return false }
        defer { protobuf_c_message_free_unpacked(m, nil) }
        writeMessage(UnsafeRawPointer(m), descriptor, &w)
        return true
    }

    private static func writeMessage(_ m: UnsafeRawPointer, _ d: MessageDescriptor, _ w: inout JSONWriter) {
        w.raw("{")
        var first = true
        for f in d.fieldViews {
            let p = m + f.offset
            if f.isRepeated {
                let n = (m + f.quantifierOffset).load(as: Int.self)
                guard n > 0, let array = p.load(as: UnsafeRawPointer?.self) else { continue }
                key(f, &first, &w)
                w.raw("[")
                for i in 0..<n {
                    if i > 0 { w.raw(",") }
                    writeValue(f, array + i * f.elementSize, &w)
                }
                w.raw("]")
            } else if f.isOneof {
                guard (m + f.quantifierOffset).load(as: UInt32.self) == f.id else { continue }
                if f.type == PROTOBUF_C_TYPE_MESSAGE, p.load(as: UnsafeRawPointer?.self) == nil { continue }
                key(f, &first, &w)
                writeValue(f, p, &w)
            } else {
                guard isSet(f, p, m) else { continue }
                key(f, &first, &w)
                writeValue(f, p, &w)
            }
        }
        w.raw("}")
    }

    private static func key(_ f: FieldView, _ first: inout Bool, _ w: inout JSONWriter) {
        if !first { w.raw(",") }
        first = false
        w.string(f.name)
        w.raw(":")
    }

    /// Whether jsonpb would write a singular field: proto3 fields when not zero, proto2 optional
    /// scalars when their `has_` flag is set, messages when present.
    private static func isSet(_ f: FieldView, _ p: UnsafeRawPointer, _ m: UnsafeRawPointer) -> Bool {
        switch f.type {
        case PROTOBUF_C_TYPE_MESSAGE:
            return p.load(as: UnsafeRawPointer?.self) != nil
        case PROTOBUF_C_TYPE_STRING:
            guard let s = p.load(as: UnsafePointer<CChar>?.self) else { return false }
            return f.isOptional || s.pointee != 0
        default:
            if f.isOptional { return (m + f.quantifierOffset).load(as: Int32.self) != 0 }
        }
        switch f.type {
        case PROTOBUF_C_TYPE_BYTES: return p.load(as: ProtobufCBinaryData.self).len > 0
        case PROTOBUF_C_TYPE_FLOAT: return p.load(as: Float.self) != 0
        case PROTOBUF_C_TYPE_DOUBLE: return p.load(as: Double.self) != 0
        default:
            return f.elementSize == 8 ? p.load(as: UInt64.self) != 0 : p.load(as: UInt32.self) != 0
        }
    }

    private static func writeValue(_ f: FieldView, _ p: UnsafeRawPointer, _ w: inout JSONWriter) {
        switch f.type {
        case PROTOBUF_C_TYPE_INT32, PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_SFIXED32:
            w.raw(String(p.load(as: Int32.self)))
        case PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_FIXED32:
            w.raw(String(p.load(as: UInt32.self)))
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64:
            w.raw("\"" + String(p.load(as: Int64.self)) + "\"")
        case PROTOBUF_C_TYPE_UINT64, PROTOBUF_C_TYPE_FIXED64:
            w.raw("\"" + String(p.load(as: UInt64.self)) + "\"")
        case PROTOBUF_C_TYPE_FLOAT:
            writeFloat(Double(p.load(as: Float.self)), &w)
        case PROTOBUF_C_TYPE_DOUBLE:
            writeFloat(p.load(as: Double.self), &w)
        case PROTOBUF_C_TYPE_BOOL:
            w.raw(p.load(as: Int32.self) != 0 ? "true" : "false")
        case PROTOBUF_C_TYPE_ENUM:
            let v = p.load(as: Int32.self)
            if let e = f.enumeration, let value = protobuf_c_enum_descriptor_get_value(e, Int32(v)) {
                w.string(String(cString: value.pointee.name))
            } else {
                w.raw(String(v))
            }
        case PROTOBUF_C_TYPE_STRING:
            w.string(p.load(as: UnsafePointer<CChar>?.self).map { String(cString: $0) } ?? "")
        case PROTOBUF_C_TYPE_BYTES:
            let b = p.load(as: ProtobufCBinaryData.self)
            w.raw("\"")
            if b.len > 0, let data = b.data { Base64.encode(UnsafeBufferPointer(start: data, count: b.len), into: &w.bytes) }
            w.raw("\"")
        case PROTOBUF_C_TYPE_MESSAGE:
            if let sub = p.load(as: UnsafeRawPointer?.self) {
                writeMessage(sub, f.message!, &w)
            } else {
                w.raw("{}")
            }
        default:
            w.raw("null")
        }
    }

    /// jsonpb writes non-finite floats as strings.
    private static func writeFloat(_ v: Double, _ w: inout JSONWriter) {
        if v.isNaN { w.raw("\"NaN\"") } else if v.isInfinite { w.raw(v > 0 ? "\"Infinity\"" : "\"-Infinity\"") } else {
            w.raw(v == v.rounded() && abs(v) < 1e21 ? String(Int64(v)) : String(v))
        }
    }
}
