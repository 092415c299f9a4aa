// A small deterministic mutator for runs without libFuzzer (`etcd-fuzz mutate`, used by
// `make fuzz-run`): seeded, so a failure reproduces from the seed and iteration it prints.
import Raft

extension SplitMix64 {
    /// A number in 0..<n (0 when n <= 1), to pick mutations with Raft's seeded generator.
    public mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
}

public enum Mutator {
    /// Values that tend to sit on decoder boundaries (lengths, varint limits, signs).
    static let interesting: [UInt64] = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x7fff_ffff,
                                        0xffff_ffff, 0x1_0000_0000, 0x7fff_ffff_ffff_ffff, .max]

    /// Applies 1-4 random edits to `input`, splicing from `other` sometimes. Output is capped at
    /// `maxLength` bytes.
    public static func mutate(_ input: [UInt8], other: [UInt8], rng: inout SplitMix64, maxLength: Int = 4096) -> [UInt8] {
        var b = input
        for _ in 0...rng.below(4) {
            switch rng.below(9) {
            case 0 where !b.isEmpty:  // flip a bit
                let i = rng.below(b.count)
                b[i] ^= UInt8(1) << UInt8(rng.below(8))
            case 1 where !b.isEmpty:  // random byte
                b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 2:  // insert bytes
                let at = rng.below(b.count + 1)
                let n = 1 + rng.below(8)
                b.insert(contentsOf: (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            case 3 where !b.isEmpty:  // delete a range
                let at = rng.below(b.count)
                let n = 1 + rng.below(min(16, b.count - at))
                b.removeSubrange(at..<(at + n))
            case 4 where b.count >= 2:  // duplicate a range
                let at = rng.below(b.count)
                let n = 1 + rng.below(min(32, b.count - at))
                b.insert(contentsOf: b[at..<(at + n)], at: rng.below(b.count + 1))
            case 5 where !b.isEmpty:  // an interesting integer, little or big endian, 1-8 bytes
                let v = interesting[rng.below(interesting.count)]
                let width = [1, 2, 4, 8][rng.below(4)]
                let at = rng.below(b.count)
                let big = rng.below(2) == 0
                for k in 0..<width where at + k < b.count {
                    let shift = UInt64(big ? (width - 1 - k) * 8 : k * 8)
                    b[at + k] = UInt8(truncatingIfNeeded: v >> shift)
                }
            case 6 where !other.isEmpty:  // splice from another input
                let from = rng.below(other.count)
                let n = 1 + rng.below(min(64, other.count - from))
                let at = rng.below(b.count + 1)
                b.insert(contentsOf: other[from..<(from + n)], at: at)
            case 7 where !b.isEmpty:  // truncate
                b.removeLast(1 + rng.below(b.count))
            case 8 where !b.isEmpty:  // a protobuf varint at a random place (lengths, field tags)
                var v = interesting[rng.below(interesting.count)] &+ UInt64(rng.below(3))
                var varint: [UInt8] = []
                repeat {
                    varint.append(UInt8(v & 0x7f) | (v > 0x7f ? 0x80 : 0))
                    v >>= 7
                } while v > 0
                b.insert(contentsOf: varint, at: rng.below(b.count + 1))
            default:
                b.append(UInt8(truncatingIfNeeded: rng.next()))
            }
        }
        if b.count > maxLength { b.removeLast(b.count - maxLength) }
        return b
    }
}
