/// Ordered gRPC metadata: (name, value) pairs as carried in HTTP/2 headers or trailers.
///
/// Names are lower-case. Names ending in `-bin` hold raw bytes: they are base64-encoded on the wire and
/// decoded here, so ``Value/binary(_:)`` always holds the raw bytes.
public struct Metadata: Sendable, Hashable, Sequence {
    /// One metadata value: text for ordinary names, raw bytes for `-bin` names.
    public enum Value: Sendable, Hashable {
        case string(String)
        case binary([UInt8])

        /// The value as text (binary values are decoded as UTF-8).
        public var stringValue: String {
            switch self {
            case .string(let s): return s
            case .binary(let b): return String(decoding: b, as: UTF8.self)
            }
        }

        /// The value's bytes (the UTF-8 of a text value).
        public var bytes: [UInt8] {
            switch self {
            case .string(let s): return Array(s.utf8)
            case .binary(let b): return b
            }
        }
    }

    public typealias Element = (name: String, value: Value)
    private var entries: [Element] = []

    public init() {}

    /// Metadata holding `pairs` in order (see ``add(_:_:)``).
    public init(_ pairs: [(String, String)]) {
        for (name, value) in pairs { add(name, value) }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// Appends a text entry; a `-bin` name stores the UTF-8 of `value` as bytes.
    public mutating func add(_ name: String, _ value: String) {
        let lower = name.lowercased()
        if lower.hasSuffix("-bin") {
            entries.append((lower, .binary(Array(value.utf8))))
        } else {
            entries.append((lower, .string(value)))
        }
    }

    /// Appends a binary entry; `name` should end in `-bin`.
    public mutating func add(_ name: String, binary value: [UInt8]) {
        entries.append((name.lowercased(), .binary(value)))
    }

    /// Removes every entry named `name`.
    public mutating func remove(_ name: String) {
        let lower = name.lowercased()
        entries.removeAll { $0.name == lower }
    }

    /// The first text value named `name`.
    public subscript(name: String) -> String? {
        first(name)?.stringValue
    }

    /// The first value named `name`.
    public func first(_ name: String) -> Value? {
        let lower = name.lowercased()
        return entries.first { $0.name == lower }?.value
    }

    /// Every value named `name`, in order.
    public func values(_ name: String) -> [Value] {
        let lower = name.lowercased()
        return entries.filter { $0.name == lower }.map(\.value)
    }

    public func makeIterator() -> IndexingIterator<[Element]> { entries.makeIterator() }

    public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for e in entries {
            hasher.combine(e.name)
            hasher.combine(e.value)
        }
    }

    /// Adds a header received from the wire; decodes `-bin` values from base64.
    mutating func appendWire(name: String, value: String) {
        if name.hasSuffix("-bin") {
            entries.append((name, .binary(Base64.decode(value) ?? Array(value.utf8))))
        } else {
            entries.append((name, .string(value)))
        }
    }

    /// The wire form of every entry (base64 for binary values).
    func wireHeaders(into headers: inout [(String, String)]) {
        for e in entries {
            switch e.value {
            case .string(let s): headers.append((e.name, s))
            case .binary(let b): headers.append((e.name, Base64.encode(b)))
            }
        }
    }
}

/// Standard base64 (RFC 4648), padding written; decoding accepts padded and unpadded input.
enum Base64 {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        // URL-safe alphabet too, as some clients send it.
        t[Int(UInt8(ascii: "-"))] = 62
        t[Int(UInt8(ascii: "_"))] = 63
        return t
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            if c == UInt8(ascii: "=") { break }
            let v = reverse[Int(c)]
            if v == 0xFF { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        return out
    }
}
