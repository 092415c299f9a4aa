#if canImport(Glibc)
import Glibc
#endif

/// bcrypt password hashes (Provos and Mazières' EksBlowfish), in the `$2a$` format that etcd stores
/// through Go's golang.org/x/crypto/bcrypt: `$2a$<cost>$<22 chars of salt><31 chars of hash>`, in
/// bcrypt's own base64 alphabet. Hashes made by etcd verify here and the other way round.
public enum Bcrypt {
    public static let minCost = 4
    public static let maxCost = 31
    /// etcd's `--bcrypt-cost` default (Go's bcrypt.DefaultCost).
    public static let defaultCost = 10

    /// Hashes `password` with a fresh random salt. Costs outside `minCost...maxCost` use
    /// `defaultCost`, as Go's GenerateFromPassword does for a too-small one.
    public static func hash(_ password: [UInt8], cost: Int = defaultCost) -> [UInt8] {
        var salt = [UInt8](repeating: 0, count: 16)
        fillRandom(&salt)
        return hash(password, cost: cost, salt: salt)
    }

    /// Hashes with a given 16-byte salt (tests; `hash(_:cost:)` picks a random one).
    public static func hash(_ password: [UInt8], cost: Int, salt: [UInt8]) -> [UInt8] {
        precondition(salt.count == 16, "bcrypt salt is 16 bytes")
        let cost = (minCost...maxCost).contains(cost) ? cost : defaultCost
        let digest = rawHash(password: password, cost: cost, salt: salt)
        var out = Array("$2a$".utf8)
        out += Array((cost < 10 ? "0\(cost)" : "\(cost)").utf8)
        out.append(UInt8(ascii: "$"))
        out += encode64(salt)
        out += encode64(Array(digest.prefix(23)))
        return out
    }

    /// Whether `password` matches `hashed` (any `$2?$` hash). A malformed hash never matches.
    public static func verify(_ password: [UInt8], hashed: [UInt8]) -> Bool {
        guard let parsed = parse(hashed) else { return false }
        let digest = rawHash(password: password, cost: parsed.cost, salt: parsed.salt)
        let mine = encode64(Array(digest.prefix(23)))
        guard mine.count == parsed.digest.count else { return false }
        // Constant time: the comparison must not reveal how many characters matched.
        var diff: UInt8 = 0
        for i in mine.indices { diff |= mine[i] ^ parsed.digest[i] }
        return diff == 0
    }

    /// The cost recorded in a hash, or nil when it is not a bcrypt hash.
    public static func cost(of hashed: [UInt8]) -> Int? { parse(hashed)?.cost }

    /// Splits `$2<minor>$<cost>$<salt><digest>`; Go accepts `$2$` or any one minor letter.
    static func parse(_ h: [UInt8]) -> (cost: Int, salt: [UInt8], digest: [UInt8])? {
        let dollar = UInt8(ascii: "$")
        guard h.count >= 4, h[0] == dollar, h[1] == UInt8(ascii: "2") else { return nil }
        var i = 2
        if h[i] != dollar { i += 1 }
        guard i < h.count, h[i] == dollar else { return nil }
        i += 1
        guard h.count == i + 3 + 53, h[i + 2] == dollar,
              let tens = digit(h[i]), let ones = digit(h[i + 1]) else { return nil }
        let cost = tens * 10 + ones
        guard (minCost...maxCost).contains(cost) else { return nil }
        let saltText = Array(h[(i + 3)..<(i + 25)])
        guard let salt = decode64(saltText), salt.count == 16 else { return nil }
        let digest = Array(h[(i + 25)...])
        guard decode64(digest) != nil else { return nil }
        return (cost, salt, digest)
    }

    private static func digit(_ c: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) ? Int(c - UInt8(ascii: "0")) : nil
    }

    /// EksBlowfish: the expensive key schedule, then "OrpheanBeholderScryDoubt" encrypted 64 times.
    static func rawHash(password: [UInt8], cost: Int, salt: [UInt8]) -> [UInt8] {
        // The key is the password with its C string terminator, as the reference implementation.
        let key = password + [0]
        var state = BlowfishState()
        state.expand(key: key, salt: salt)
        for _ in 0..<(1 << cost) {
            state.expand(key: key, salt: nil)
            state.expand(key: salt, salt: nil)
        }
        let magic = Array("OrpheanBeholderScryDoubt".utf8)
        var words = [UInt32](repeating: 0, count: 6)
        for i in 0..<24 { words[i / 4] = words[i / 4] << 8 | UInt32(magic[i]) }
        for block in stride(from: 0, to: 6, by: 2) {
            var l = words[block], r = words[block + 1]
            for _ in 0..<64 { state.encrypt(&l, &r) }
            words[block] = l
            words[block + 1] = r
        }
        return words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (24 - 8 * UInt32($0))) } }
    }

    // MARK: bcrypt's base64 (its own alphabet, no padding)

    private static let alphabet = Array("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    private static let reverse: [Int8] = {
        var t = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = Int8(i) }
        return t
    }()

    static func encode64(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b0 = UInt32(bytes[i])
            let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let n = b0 << 16 | b1 << 8 | b2
            let chars = min(4, (bytes.count - i) + 1)
            for k in 0..<chars { out.append(alphabet[Int((n >> (18 - 6 * UInt32(k))) & 63)]) }
            i += 3
        }
        return out
    }

    static func decode64(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < text.count {
            let chunk = min(4, text.count - i)
            var n: UInt32 = 0
            for k in 0..<4 {
                var v: UInt32 = 0
                if k < chunk {
                    let d = reverse[Int(text[i + k])]
                    guard d >= 0 else { return nil }
                    v = UInt32(d)
                }
                n = n << 6 | v
            }
            for k in 0..<(chunk - 1) { out.append(UInt8(truncatingIfNeeded: n >> (16 - 8 * UInt32(k)))) }
            i += 4
        }
        return out
    }
}

/// Fills `bytes` from the kernel's random source.
func fillRandom(_ bytes: inout [UInt8]) {
    var rng = SystemRandomNumberGenerator()
    for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
}

/// Blowfish's subkeys (18 P words, then four S-boxes of 256 words) in one buffer, with the
/// operations bcrypt needs. The buffer is raw memory because bcrypt runs the cipher about a
/// million times per hash: bounds checks on every S-box lookup would cost more than the cipher.
struct BlowfishState: ~Copyable {
    private let words: UnsafeMutablePointer<UInt32>

    init() {
        words = .allocate(capacity: 18 + 1024)
        var i = 0
        for table in [BlowfishTables.p, BlowfishTables.s0, BlowfishTables.s1, BlowfishTables.s2, BlowfishTables.s3] {
            for w in table { words[i] = w; i += 1 }
        }
    }

    deinit { words.deallocate() }

    @inline(__always)
    private func f(_ x: UInt32) -> UInt32 {
        let s = words + 18
        let a = s[Int(x >> 24)], b = s[256 + Int((x >> 16) & 0xff)]
        let c = s[512 + Int((x >> 8) & 0xff)], d = s[768 + Int(x & 0xff)]
        return ((a &+ b) ^ c) &+ d
    }

    @inline(__always)
    func encrypt(_ l: inout UInt32, _ r: inout UInt32) {
        var xl = l, xr = r
        var i = 0
        // Two rounds per pass, the halves trading roles instead of being swapped.
        while i < 16 {
            xl ^= words[i]
            xr ^= f(xl) ^ words[i + 1]
            xl ^= f(xr)
            i += 2
        }
        l = xr ^ words[17]
        r = xl ^ words[16]
    }

    /// One key-schedule pass: P ^= the key (cyclically), then every subkey is replaced by the
    /// running encryption of its predecessor, each block first XORed with the next salt words when
    /// a salt is given (EksBlowfish's ExpandKey).
    mutating func expand(key: [UInt8], salt: [UInt8]?) {
        var keyPos = 0
        for i in 0..<18 { words[i] ^= cyclicWord(key, &keyPos) }
        var saltPos = 0
        var l: UInt32 = 0, r: UInt32 = 0
        var i = 0
        while i < 18 + 1024 {
            if let salt {
                l ^= cyclicWord(salt, &saltPos)
                r ^= cyclicWord(salt, &saltPos)
            }
            encrypt(&l, &r)
            words[i] = l
            words[i + 1] = r
            i += 2
        }
    }

    @inline(__always)
    private func cyclicWord(_ data: [UInt8], _ pos: inout Int) -> UInt32 {
        var w: UInt32 = 0
        for _ in 0..<4 {
            if pos >= data.count { pos = 0 }
            w = w << 8 | UInt32(data[pos])
            pos += 1
        }
        return w
    }
}
