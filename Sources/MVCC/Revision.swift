/// A point in the store's history: `main` is the revision of a write transaction, `sub` the
/// position of a change within it (0, 1, 2...).
public struct Revision: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var main: Int64
    public var sub: Int64

    public init(main: Int64, sub: Int64 = 0) {
        self.main = main
        self.sub = sub
    }

    public static func < (a: Revision, b: Revision) -> Bool {
        a.main != b.main ? a.main < b.main : a.sub < b.sub
    }

    public var description: String { "{\(main) \(sub)}" }

    /// Length of a revision key in the `key` bucket: 8-byte big-endian main, '_', 8-byte sub.
    public static let keyLength = 17
    /// Length of a tombstone's key: the revision key plus the mark `t`.
    public static let tombstoneKeyLength = 18
    static let tombstoneMark = UInt8(ascii: "t")

    /// The bucket key, as etcd lays it out (so bytes sort in revision order).
    public func keyBytes(tombstone: Bool = false) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: tombstone ? Revision.tombstoneKeyLength : Revision.keyLength)
        b.withUnsafeMutableBytes { write(into: $0) }
        if tombstone { b[17] = Revision.tombstoneMark }
        return b
    }

    /// Writes the 17-byte key into `buf` (at least 17 bytes).
    @inline(__always)
    public func write(into buf: UnsafeMutableRawBufferPointer) {
        buf.storeBytes(of: UInt64(bitPattern: main).bigEndian, toByteOffset: 0, as: UInt64.self)
        buf[8] = UInt8(ascii: "_")
        buf.storeBytes(of: UInt64(bitPattern: sub).bigEndian, toByteOffset: 9, as: UInt64.self)
    }

    /// Parses a bucket key (17 or 18 bytes); nil when malformed.
    public init?(keyBytes b: UnsafeRawBufferPointer) {
        guard b.count >= Revision.keyLength else { return nil }
        main = Int64(bitPattern: UInt64(bigEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
        sub = Int64(bitPattern: UInt64(bigEndian: b.loadUnaligned(fromByteOffset: 9, as: UInt64.self)))
    }

    /// Whether a bucket key marks a deletion.
    public static func isTombstone(_ key: UnsafeRawBufferPointer) -> Bool {
        key.count == tombstoneKeyLength && key[17] == tombstoneMark
    }
}
