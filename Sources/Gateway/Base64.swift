/// Standard base64 with padding, as Go's encoding/json reads and writes `[]byte`: the decoder is
/// strict and reports the byte offset Go's `CorruptInputError` reports (clients see the text).
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let decodeMap: [UInt8] = {
        var m = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { m[Int(c)] = UInt8(i) }
        return m
    }()

    static func encode(_ data: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var i = 0
        let n = data.count
        while i + 3 <= n {
            let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)])
            out.append(alphabet[Int(v & 63)])
            i += 3
        }
        let rest = n - i
        if rest > 0 {
            var v = UInt32(data[i]) << 16
            if rest == 2 { v |= UInt32(data[i + 1]) << 8 }
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
    }

    /// Decodes as Go's `base64.StdEncoding.Decode` (newlines skipped, padding required).
    static func decode(_ text: String) -> Result<[UInt8], JSONError> {
        let src = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(src.count / 4 * 3)
        var si = 0
        func corrupt(_ at: Int) -> Result<[UInt8], JSONError> { .failure(JSONError("illegal base64 data at input byte \(at)")) }
        func isNewline(_ c: UInt8) -> Bool { c == 0x0A || c == 0x0D }
        while true {
            var quantum = [UInt8](repeating: 0, count: 4)
            var length = 4
            var j = 0
            var finished = false
            while j < 4 {
                if si == src.count {
                    if j == 0 { return .success(out) }
                    return corrupt(si - j)
                }
                let c = src[si]
                si += 1
                let d = decodeMap[Int(c)]
                if d != 0xFF {
                    quantum[j] = d
                    j += 1
                    continue
                }
                if isNewline(c) { continue }
                if c != UInt8(ascii: "=") { return corrupt(si - 1) }
                // Padding: only after two or three symbols, and it ends the input.
                switch j {
                case 0, 1: return corrupt(si - 1)
                case 2:
                    while si < src.count, isNewline(src[si]) { si += 1 }
                    if si == src.count { return corrupt(src.count) }
                    if src[si] != UInt8(ascii: "=") { return corrupt(si - 1) }
                    si += 1
                default: break
                }
                while si < src.count, isNewline(src[si]) { si += 1 }
                if si < src.count { return corrupt(si) }
                length = j
                finished = true
                break
            }
            let v = UInt32(quantum[0]) << 18 | UInt32(quantum[1]) << 12 | UInt32(quantum[2]) << 6 | UInt32(quantum[3])
            let bytes = [UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
            out.append(contentsOf: bytes[0..<(length - 1)])
            if finished { return .success(out) }
        }
    }
}
