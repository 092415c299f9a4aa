// Value syntax as Go's `strconv`, `time.ParseDuration`, `fmt`'s `%q` and `encoding/json` accept or
// print it, so that flag values, error messages and the JSON etcd writes into its log match etcd's
// byte for byte. One module, so every other module quotes the same way.

/// Why a Go-style number failed to parse (`strconv.ErrSyntax` / `strconv.ErrRange`).
public enum NumberSyntaxError: Error, Equatable {
    case syntax
    case range
}

public enum GoSyntax {
    /// `strconv.ParseBool`.
    public static func parseBool(_ s: String) -> Bool? {
        switch s {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }

    /// `strconv.ParseUint(s, 0, bits)`: optional 0x/0o/0b or leading-0 octal prefix, `_` between digits.
    public static func parseUint(_ s: String, bits: Int) throws(NumberSyntaxError) -> UInt64 {
        let bytes = Array(s.utf8)
        if bytes.isEmpty { throw .syntax }
        var digits = bytes[...]
        var base: UInt64 = 10
        if bytes[0] == UInt8(ascii: "0") {
            let second = bytes.count >= 3 ? bytes[1] | 0x20 : 0
            switch second {
            case UInt8(ascii: "b"): base = 2; digits = bytes[2...]
            case UInt8(ascii: "o"): base = 8; digits = bytes[2...]
            case UInt8(ascii: "x"): base = 16; digits = bytes[2...]
            default: base = 8; digits = bytes[1...]
            }
        }
        let maxValue: UInt64 = bits >= 64 ? .max : (UInt64(1) << UInt64(bits)) - 1
        var value: UInt64 = 0
        var sawUnderscore = false
        var overflow = false
        for c in digits {
            if c == UInt8(ascii: "_") { sawUnderscore = true; continue }
            let d: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): d = UInt64(c - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): d = UInt64(c - UInt8(ascii: "A")) + 10
            default: throw .syntax
            }
            if d >= base { throw .syntax }
            if overflow { continue }
            let (m, o1) = value.multipliedReportingOverflow(by: base)
            let (n, o2) = m.addingReportingOverflow(d)
            if o1 || o2 || n > maxValue { overflow = true } else { value = n }
        }
        if sawUnderscore && !underscoresWellPlaced(bytes) { throw .syntax }
        if overflow { throw .range }
        return value
    }

    /// `strconv.ParseInt(s, 0, bits)`.
    public static func parseInt(_ s: String, bits: Int) throws(NumberSyntaxError) -> Int64 {
        var body = Substring(s)
        var negative = false
        if let first = body.first, first == "+" || first == "-" {
            negative = first == "-"
            body = body.dropFirst()
        }
        let magnitude = try parseUint(String(body), bits: 64)
        let cutoff = UInt64(1) << UInt64(bits - 1)
        if !negative && magnitude >= cutoff { throw .range }
        if negative && magnitude > cutoff { throw .range }
        if negative { return magnitude == UInt64(1) << 63 ? Int64.min : -Int64(magnitude) }
        return Int64(magnitude)
    }

    /// Go's rule for `_` in base-prefixed literals: only between digits (or after the prefix).
    private static func underscoresWellPlaced(_ bytes: [UInt8]) -> Bool {
        var s = bytes[...]
        if let f = s.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") { s = s.dropFirst() }
        // "^" start, "_" underscore, "0" digit or prefix, "!" anything else
        var saw: Character = "^"
        var hex = false
        if s.count >= 2, s.first == UInt8(ascii: "0") {
            let p = s[s.startIndex + 1] | 0x20
            if p == UInt8(ascii: "b") || p == UInt8(ascii: "o") || p == UInt8(ascii: "x") {
                hex = p == UInt8(ascii: "x")
                saw = "0"
                s = s.dropFirst(2)
            }
        }
        for c in s {
            let lower = c | 0x20
            if (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || (hex && lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "f")) {
                saw = "0"
                continue
            }
            if c == UInt8(ascii: "_") {
                if saw != "0" { return false }
                saw = "_"
                continue
            }
            if saw == "_" { return false }
            saw = "!"
        }
        return saw != "_"
    }

    /// `time.ParseDuration`, in nanoseconds; nil where Go returns an error.
    public static func parseDuration(_ input: String) -> Int64? {
        var s = Array(input.unicodeScalars)[...]
        var negative = false
        if let f = s.first, f == "-" || f == "+" {
            negative = f == "-"
            s = s.dropFirst()
        }
        if s.count == 1 && s.first == "0" { return 0 }
        if s.isEmpty { return nil }
        var total: UInt64 = 0
        func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
        while !s.isEmpty {
            guard let c = s.first, c == "." || isDigit(c) else { return nil }
            var whole: UInt64 = 0
            var sawWhole = false
            while let d = s.first, isDigit(d) {
                let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                let (n, o2) = m.addingReportingOverflow(UInt64(d.value - 48))
                if o1 || o2 || n > UInt64(Int64.max) { return nil }
                whole = n
                sawWhole = true
                s = s.dropFirst()
            }
            var fraction: UInt64 = 0
            var scale: Double = 1
            var sawFraction = false
            if s.first == "." {
                s = s.dropFirst()
                var capped = false
                while let d = s.first, isDigit(d) {
                    sawFraction = true
                    if !capped {
                        let (m, o1) = fraction.multipliedReportingOverflow(by: 10)
                        let (n, o2) = m.addingReportingOverflow(UInt64(d.value - 48))
                        if o1 || o2 || n > UInt64(Int64.max) { capped = true } else {
                            fraction = n
                            scale *= 10
                        }
                    }
                    s = s.dropFirst()
                }
            }
            if !sawWhole && !sawFraction { return nil }
            var unitText = ""
            while let u = s.first, u != ".", !isDigit(u) {
                unitText.unicodeScalars.append(u)
                s = s.dropFirst()
            }
            let unit: UInt64
            switch unitText {
            case "ns": unit = 1
            case "us", "\u{00B5}s", "\u{03BC}s": unit = 1_000
            case "ms": unit = 1_000_000
            case "s": unit = 1_000_000_000
            case "m": unit = 60_000_000_000
            case "h": unit = 3_600_000_000_000
            default: return nil  // missing or unknown unit
            }
            if whole > UInt64(Int64.max) / unit { return nil }
            var v = whole * unit
            if fraction > 0 {
                v += UInt64(Double(fraction) * (Double(unit) / scale))
                if v > UInt64(Int64.max) { return nil }
            }
            total += v
            if total > UInt64(Int64.max) { return nil }
        }
        return negative ? -Int64(total) : Int64(total)
    }

    /// Go's `%q` of a string (quoted, with backslash escapes).
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7f {
                    out += hexEscape(u.value, prefix: "\\x", width: 2)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// Go's `%q` of a `[]string`: `["a" "b"]`.
    public static func quote(_ list: [String]) -> String {
        "[" + list.map { quote($0) }.joined(separator: " ") + "]"
    }

    /// Go's `time.Duration.String()` of `d` (to the nanosecond, as Go's Duration holds it).
    public static func formatDuration(_ d: Duration) -> String {
        formatDuration(nanoseconds: d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }

    /// Go's `time.Duration.String()`, used for help defaults and raw values.
    public static func formatDuration(nanoseconds ns: Int64) -> String {
        if ns == 0 { return "0s" }
        let negative = ns < 0
        let u = ns.magnitude
        var out: String
        if u < 1_000_000_000 {
            // sub-second: pick ns, µs or ms with a fraction
            let (unit, name): (UInt64, String) =
                u < 1_000 ? (1, "ns") : u < 1_000_000 ? (1_000, "µs") : (1_000_000, "ms")
            out = fractional(u, unit: unit) + name
        } else {
            let hours = u / 3_600_000_000_000
            let minutes = (u / 60_000_000_000) % 60
            let secondsPart = u % 60_000_000_000
            out = fractional(secondsPart, unit: 1_000_000_000) + "s"
            if hours > 0 || minutes > 0 { out = "\(minutes)m" + out }
            if hours > 0 { out = "\(hours)h" + out }
        }
        return negative ? "-" + out : out
    }

    private static func fractional(_ v: UInt64, unit: UInt64) -> String {
        let whole = v / unit
        var rest = v % unit
        if rest == 0 { return "\(whole)" }
        var digits = ""
        var scale = unit / 10
        while rest > 0 && scale > 0 {
            digits += "\(rest / scale)"
            rest %= scale
            scale /= 10
        }
        return "\(whole).\(digits)"
    }

    /// A JSON string literal as Go's `encoding/json` writes one: HTML-safe (`<`, `>`, `&` and the
    /// line/paragraph separators escaped as \u00XX), control characters as \uXXXX.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}": out += hexEscape(u.value, prefix: "\\u", width: 4)
            default:
                if u.value < 0x20 { out += hexEscape(u.value, prefix: "\\u", width: 4) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    private static func hexEscape(_ v: UInt32, prefix: String, width: Int) -> String {
        let hex = String(v, radix: 16)
        return prefix + String(repeating: "0", count: max(0, width - hex.count)) + hex
    }
}
