/// A parsed JSON value. Numbers keep their literal text (Go parses them per target type); objects keep
/// every member in order, and lookups take the last of duplicated names, as Go's map decoding does.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The word Go's `UnmarshalTypeError` uses for this kind of value.
    var goKind: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// A JSON decoding failure, worded as Go's encoding/json and jsonpb word it (clients see the text).
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static let unexpectedEOF = JSONError("unexpected EOF")
}

/// Go's encoding/json scanner over bytes: one value at a time from a stream (json.Decoder), with its
/// error texts. Nesting is capped so hostile input cannot exhaust the stack.
public struct JSONParser {
    public static let maxDepth = 512

    /// The outcome of reading one value from the front of a buffer.
    public enum Step: Equatable {
        /// A value and the number of bytes it took (with leading whitespace).
        case value(JSONValue, consumed: Int)
        /// Only whitespace so far (Go's io.EOF once the input is complete).
        case empty
        /// The value is not complete yet; more input may finish it.
        case incomplete
        case failure(JSONError)
    }

    private let bytes: [UInt8]
    private var i = 0
    private var depth = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Reads the first value of `bytes`. With `complete` false, running out of input is `.incomplete`
    /// (a stream may bring the rest); with `complete` true it is Go's "unexpected EOF".
    public static func next(_ bytes: [UInt8], complete: Bool) -> Step {
        var p = JSONParser(bytes)
        p.skipSpace()
        if p.i == bytes.count { return .empty }
        do {
            let v = try p.value()
            // A number at the very end may go on in the next chunk.
            if !complete, case .number = v, p.i == bytes.count { return .incomplete }
            return .value(v, consumed: p.i)
        } catch let e as Incomplete {
            _ = e
            return complete ? .failure(.unexpectedEOF) : .incomplete
        } catch let e as JSONError {
            return .failure(e)
        } catch {
            return .failure(JSONError("\(error)"))
        }
    }

    /// Parses `bytes` as one whole JSON text, as Go's json.Unmarshal does (used for numbers given as
    /// strings, which jsonpb unquotes and parses again).
    static func whole(_ bytes: [UInt8]) -> Result<JSONValue, JSONError> {
        var p = JSONParser(bytes)
        p.skipSpace()
        if p.i == bytes.count { return .failure(JSONError("unexpected end of JSON input")) }
        do {
            let v = try p.value()
            p.skipSpace()
            if p.i < bytes.count {
                return .failure(JSONError("invalid character \(quoteChar(bytes[p.i])) after top-level value"))
            }
            return .success(v)
        } catch is Incomplete {
            return .failure(JSONError("unexpected end of JSON input"))
        } catch let e as JSONError {
            return .failure(e)
        } catch {
            return .failure(JSONError("\(error)"))
        }
    }

    private struct Incomplete: Error {}

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
    }

    private func peek() throws -> UInt8 {
        guard i < bytes.count else { throw Incomplete() }
        return bytes[i]
    }

    private func bad(_ c: UInt8, _ context: String) -> JSONError {
        JSONError("invalid character \(Self.quoteChar(c)) \(context)")
    }

    private mutating func value() throws -> JSONValue {
        let c = try peek()
        switch c {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw bad(c, "looking for beginning of value")
        }
    }

    private mutating func nest() throws {
        depth += 1
        if depth > Self.maxDepth { throw JSONError("exceeded max depth") }
    }

    private mutating func object() throws -> JSONValue {
        try nest()
        defer { depth -= 1 }
        i += 1
        var members: [(String, JSONValue)] = []
        skipSpace()
        if try peek() == UInt8(ascii: "}") {
            i += 1
            return .object(members)
        }
        while true {
            skipSpace()
            let c = try peek()
            guard c == UInt8(ascii: "\"") else { throw bad(c, "looking for beginning of object key string") }
            let key = try string()
            skipSpace()
            let colon = try peek()
            guard colon == UInt8(ascii: ":") else { throw bad(colon, "after object key") }
            i += 1
            skipSpace()
            members.append((key, try value()))
            skipSpace()
            let next = try peek()
            i += 1
            if next == UInt8(ascii: ",") { continue }
            if next == UInt8(ascii: "}") { return .object(members) }
            throw bad(next, "after object key:value pair")
        }
    }

    private mutating func array() throws -> JSONValue {
        try nest()
        defer { depth -= 1 }
        i += 1
        var elements: [JSONValue] = []
        skipSpace()
        if try peek() == UInt8(ascii: "]") {
            i += 1
            return .array(elements)
        }
        while true {
            skipSpace()
            elements.append(try value())
            skipSpace()
            let next = try peek()
            i += 1
            if next == UInt8(ascii: ",") { continue }
            if next == UInt8(ascii: "]") { return .array(elements) }
            throw bad(next, "after array element")
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for k in 0..<w.count {
            let c = try peek()
            if c != w[k] {
                throw bad(c, "in literal \(word) (expecting \(Self.quoteChar(w[k])))")
            }
            i += 1
        }
    }

    private mutating func number() throws -> String {
        let start = i
        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        if bytes[i] == UInt8(ascii: "-") {
            i += 1
            let c = try peek()
            guard isDigit(c) else { throw bad(c, "in numeric literal") }
        }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            let c = try peek()
            guard isDigit(c) else { throw bad(c, "after decimal point in numeric literal") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            var c = try peek()
            if c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                i += 1
                c = try peek()
            }
            guard isDigit(c) else { throw bad(c, "in exponent of numeric literal") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func string() throws -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            let c = try peek()
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                let e = try peek()
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    // A surrogate pair spells one scalar; a lone surrogate becomes U+FFFD, as in Go.
                    if (0xD800..<0xDC00).contains(scalar), i + 1 < bytes.count,
                       bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        let save = i
                        i += 2
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            i = save
                        }
                    }
                    let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    throw bad(e, "in string escape code")
                }
            default:
                if c < 0x20 { throw bad(c, "in string literal") }
                out.append(c)
            }
        }
    }

    private mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = try peek()
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw bad(c, "in \\u hexadecimal character escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Go's quoteChar: the offending byte in single quotes, escaped as strconv.Quote would.
    static func quoteChar(_ c: UInt8) -> String {
        switch c {
        case UInt8(ascii: "'"): return #"'\''"#
        case UInt8(ascii: "\""): return #"'"'"#
        case 0x07: return #"'\a'"#
        case 0x08: return #"'\b'"#
        case 0x0C: return #"'\f'"#
        case 0x0A: return #"'\n'"#
        case 0x0D: return #"'\r'"#
        case 0x09: return #"'\t'"#
        case 0x0B: return #"'\v'"#
        case UInt8(ascii: "\\"): return #"'\\'"#
        case 0x20..<0x7F: return "'\(Character(Unicode.Scalar(c)))'"
        case 0..<0x20, 0x7F: return "'\\x" + hex2(c) + "'"
        case 0x80...0xA0, 0xAD: return "'\\u00" + hex2(c) + "'"
        default: return "'\(Character(Unicode.Scalar(c)))'"
        }
    }

    private static func hex2(_ c: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(c >> 4)], digits[Int(c & 0xF)]])
    }
}

/// Writes JSON as Go's encoding/json does (HTML-safe string escaping, no spaces).
struct JSONWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    /// A JSON string, escaped as Go 1.19's encodeState.string with escapeHTML (what jsonpb 1.3 uses).
    mutating func string(_ s: String) {
        let hex = Array("0123456789abcdef".utf8)
        bytes.append(UInt8(ascii: "\""))
        for scalar in s.unicodeScalars {
            let v = scalar.value
            switch v {
            case 0x22: raw(#"\""#)
            case 0x5C: raw(#"\\"#)
            case 0x0A: raw(#"\n"#)
            case 0x0D: raw(#"\r"#)
            case 0x09: raw(#"\t"#)
            case 0..<0x20, 0x3C, 0x3E, 0x26:
                raw(#"\u00"#)
                bytes.append(hex[Int(v >> 4)])
                bytes.append(hex[Int(v & 0xF)])
            case 0x2028: raw(#"\u2028"#)
            case 0x2029: raw(#"\u2029"#)
            default: bytes.append(contentsOf: String(Character(scalar)).utf8)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
