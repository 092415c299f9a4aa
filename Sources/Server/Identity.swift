/// Member and cluster identifiers, derived as etcd derives them so that IDs printed by
/// `etcdctl member list` match what an etcd cluster with the same configuration would print.
public enum Identity {
    /// A member's ID: the first 8 bytes (big-endian) of SHA-1 over its sorted peer URLs, the
    /// cluster token and, for members added at run time, the Unix time of the addition.
    public static func memberID(peerURLs: [String], clusterToken: String, unixTime: Int64? = nil) -> UInt64 {
        var bytes: [UInt8] = []
        for url in peerURLs.sorted() { bytes += Array(url.utf8) }
        bytes += Array(clusterToken.utf8)
        if let unixTime { bytes += Array(String(unixTime).utf8) }
        return firstWord(SHA1.hash(bytes))
    }

    /// The cluster's ID: SHA-1 over the sorted member IDs, each as 8 big-endian bytes.
    public static func clusterID(memberIDs: [UInt64]) -> UInt64 {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(memberIDs.count * 8)
        for id in memberIDs.sorted() {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: id >> UInt64(shift))) }
        }
        return firstWord(SHA1.hash(bytes))
    }

    /// etcd prints IDs as lower-case hex without leading zeros.
    public static func hex(_ id: UInt64) -> String { String(id, radix: 16) }

    private static func firstWord(_ digest: [UInt8]) -> UInt64 {
        digest.prefix(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }
}

/// SHA-1 (FIPS 180-4). Only used to derive IDs, never for security.
enum SHA1 {
    static func hash(_ message: [UInt8]) -> [UInt8] {
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        var data = message
        let bitLength = UInt64(message.count) * 8
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 80)
        for chunk in stride(from: 0, to: data.count, by: 64) {
            for i in 0..<16 {
                let b = chunk + i * 4
                w[i] = UInt32(data[b]) << 24 | UInt32(data[b + 1]) << 16 | UInt32(data[b + 2]) << 8 | UInt32(data[b + 3])
            }
            for i in 16..<80 { w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotatedLeft(1) }
            var (a, b, c, d, e) = h
            for i in 0..<80 {
                let (f, k): (UInt32, UInt32)
                switch i {
                case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A82_7999)
                case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)
                case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                default: (f, k) = (b ^ c ^ d, 0xCA62_C1D6)
                }
                let t = a.rotatedLeft(5) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, b.rotatedLeft(30), a, t)
            }
            h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
        }
        var out: [UInt8] = []
        for word in [h.0, h.1, h.2, h.3, h.4] {
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
        }
        return out
    }
}

extension UInt32 {
    fileprivate func rotatedLeft(_ n: UInt32) -> UInt32 { (self << n) | (self >> (32 - n)) }
}
