// bbolt's on-disk layout (go.etcd.io/bbolt page.go, db.go, bucket.go): little-endian fixed-size
// headers. Offsets are named here once so the reader and the writer cannot disagree.

/// Constants of the bbolt file format, version 2.
enum Layout {
    static let magic: UInt32 = 0xED0C_DAED
    static let version: UInt32 = 2

    /// Page header: id u64, flags u16, count u16, overflow u32.
    static let pageHeaderSize = 16
    static let branchFlag: UInt16 = 0x01
    static let leafFlag: UInt16 = 0x02
    static let metaFlag: UInt16 = 0x04
    static let freelistFlag: UInt16 = 0x10

    /// Branch element: pos u32, ksize u32, pgid u64. Leaf element: flags u32, pos u32, ksize u32,
    /// vsize u32. `pos` counts from the element's own first byte.
    static let branchElementSize = 16
    static let leafElementSize = 16
    /// Leaf element flag: the value is a bucket header (plus an inline page when its root is 0).
    static let bucketLeafFlag: UInt32 = 0x01

    /// Bucket header stored as a bucket's value: root pgid u64, sequence u64.
    static let bucketHeaderSize = 16

    /// Meta (after the page header): magic, version, pageSize, flags (u32 each), root bucket
    /// header (16), freelist pgid, high-water pgid, txid, checksum (u64 each).
    static let metaSize = 64
    static let metaChecksumOffset = 56
    /// A freelist pgid of all ones means "no freelist stored" (bbolt's NoFreelistSync).
    static let noFreelist = UInt64.max

    /// A page count of 0xFFFF in a freelist header means the real count is the first u64.
    static let freelistCountOverflow: UInt16 = 0xFFFF

    /// bbolt refuses keys longer than this and values longer than 2^31 - 2.
    static let maxKeySize = 32768
    static let maxValueSize = (1 << 31) - 2

    /// FNV-1a, 64 bit, as Go's hash/fnv New64a: bbolt's meta checksum.
    static func fnv64a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }
}

/// The fields of a meta page that matter to readers and writers.
struct Meta: Equatable {
    var pageSize: UInt32
    var flags: UInt32 = 0
    var rootPage: UInt64
    var rootSequence: UInt64 = 0
    var freelistPage: UInt64
    var highWater: UInt64
    var txid: UInt64

    /// The 64 meta bytes with a correct checksum.
    func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Layout.metaSize)
        out.appendLE(Layout.magic)
        out.appendLE(Layout.version)
        out.appendLE(pageSize)
        out.appendLE(flags)
        out.appendLE(rootPage)
        out.appendLE(rootSequence)
        out.appendLE(freelistPage)
        out.appendLE(highWater)
        out.appendLE(txid)
        let sum = out.withUnsafeBytes { Layout.fnv64a($0) }
        out.appendLE(sum)
        return out
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
}

extension UnsafeRawBufferPointer {
    /// A little-endian integer at `offset`; the caller has checked the bounds.
    @inline(__always)
    func le<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func putLE<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        storeBytes(of: v.littleEndian, toByteOffset: offset, as: T.self)
    }
}
