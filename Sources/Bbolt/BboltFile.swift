#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One key/value of a bucket. `isBucket` marks a nested bucket, whose `value` is its header.
public struct BboltEntry: Sendable {
    public let key: [UInt8]
    public let value: [UInt8]
    public let isBucket: Bool
}

/// A bbolt file opened read-only (memory-mapped). It picks the meta page bbolt would (the valid
/// one with the higher txid) and walks buckets in key order. Every offset and count read from the
/// file is checked against the mapping, so a truncated or corrupt file throws instead of crashing.
///
/// The file is not expected to change while open; writers other than etcd's are not locked out.
public final class BboltFile: @unchecked Sendable {  // immutable after init
    public let path: String
    public let pageSize: Int
    /// txid of the chosen meta page.
    public let txid: UInt64
    /// Pages in use (bbolt's high-water mark, `meta.pgid`): the data ends at pageCount*pageSize.
    public let pageCount: UInt64
    /// Bytes in the file, which may exceed the pages (etcdctl appends a SHA-256 to snapshots).
    public let fileSize: Int
    let meta: Meta
    private let base: UnsafeRawPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw BboltError(.io, "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BboltError(.io, "stat \(path): \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        guard size >= Layout.pageHeaderSize + Layout.metaSize else {
            throw BboltError(.invalidMeta, "\(path): \(size) bytes is too short for a bbolt file")
        }
        guard let m = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), m != MAP_FAILED else {
            throw BboltError(.io, "mmap \(path): \(String(cString: strerror(errno)))")
        }
        let buf = UnsafeRawBufferPointer(start: m, count: size)
        do {
            (meta, pageSize) = try Self.chooseMeta(buf, path: path)
        } catch {
            munmap(m, size)
            throw error
        }
        base = UnsafeRawPointer(m)
        fileSize = size
        txid = meta.txid
        pageCount = meta.highWater
        if Int(clamping: pageCount).multipliedReportingOverflow(by: pageSize).overflow
            || Int(pageCount) * pageSize > size {
            munmap(m, size)
            throw BboltError(.corrupt, "\(path) is truncated: \(size) bytes, meta says \(pageCount) pages of \(pageSize)")
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), fileSize) }

    private var file: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: fileSize) }

    /// Parses one meta page; nil when its magic, version or checksum is wrong (as bbolt's validate).
    static func parseMeta(_ buf: UnsafeRawBufferPointer, at pageOffset: Int) -> Meta? {
        let o = pageOffset + Layout.pageHeaderSize
        guard o + Layout.metaSize <= buf.count else { return nil }
        guard buf.le(o, as: UInt32.self) == Layout.magic, buf.le(o + 4, as: UInt32.self) == Layout.version else {
            return nil
        }
        let stored: UInt64 = buf.le(o + Layout.metaChecksumOffset)
        let sum = Layout.fnv64a(UnsafeRawBufferPointer(rebasing: buf[o..<(o + Layout.metaChecksumOffset)]))
        if stored != 0 && stored != sum { return nil }
        return Meta(pageSize: buf.le(o + 8), flags: buf.le(o + 12), rootPage: buf.le(o + 16),
                    rootSequence: buf.le(o + 24), freelistPage: buf.le(o + 32), highWater: buf.le(o + 40),
                    txid: buf.le(o + 48))
    }

    private static func chooseMeta(_ buf: UnsafeRawBufferPointer, path: String) throws -> (Meta, Int) {
        // As bbolt: the page size comes from meta 0 when it is valid, else the usual 4096.
        let m0 = parseMeta(buf, at: 0)
        var pageSize = 4096
        if let m0 {
            let ps = Int(m0.pageSize)
            guard ps >= 512, ps <= 1 << 20, ps & (ps - 1) == 0 else {
                throw BboltError(.invalidMeta, "\(path): page size \(ps) is not a power of two in 512...1MiB")
            }
            pageSize = ps
        }
        let m1 = parseMeta(buf, at: pageSize)
        let candidates = [m0, m1].compactMap { $0 }.filter { Int($0.pageSize) == pageSize }
        guard let best = candidates.max(by: { $0.txid < $1.txid }) else {
            throw BboltError(.invalidMeta, "\(path): no valid meta page (not a bbolt v2 file, or both checksums fail)")
        }
        return (best, pageSize)
    }

    // MARK: pages

    /// A page (with its overflow pages) or an inline bucket's page, bounds-checked.
    struct PageRef {
        let buf: UnsafeRawBufferPointer
        let flags: UInt16
        let count: Int
        let label: String

        init(_ buf: UnsafeRawBufferPointer, label: String) throws {
            guard buf.count >= Layout.pageHeaderSize else { throw BboltError(.corrupt, "\(label): short page") }
            self.buf = buf
            self.label = label
            flags = buf.le(8)
            count = Int(buf.le(10, as: UInt16.self))
            // Both element kinds are 16 bytes.
            guard Layout.pageHeaderSize + count * Layout.leafElementSize <= buf.count else {
                throw BboltError(.corrupt, "\(label): \(count) elements do not fit the page")
            }
        }

        /// The key and value of leaf element i, with its flags.
        func leaf(_ i: Int) throws -> (flags: UInt32, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
            let e = Layout.pageHeaderSize + i * Layout.leafElementSize
            let flags: UInt32 = buf.le(e)
            let pos = Int(buf.le(e + 4, as: UInt32.self)), ks = Int(buf.le(e + 8, as: UInt32.self))
            let vs = Int(buf.le(e + 12, as: UInt32.self))
            let k = e + pos
            guard k + ks + vs <= buf.count else { throw BboltError(.corrupt, "\(label): leaf element \(i) runs past the page") }
            return (flags, UnsafeRawBufferPointer(rebasing: buf[k..<(k + ks)]),
                    UnsafeRawBufferPointer(rebasing: buf[(k + ks)..<(k + ks + vs)]))
        }

        /// The child page id of branch element i.
        func branchChild(_ i: Int) throws -> UInt64 {
            let e = Layout.pageHeaderSize + i * Layout.branchElementSize
            let pos = Int(buf.le(e, as: UInt32.self)), ks = Int(buf.le(e + 4, as: UInt32.self))
            guard e + pos + ks <= buf.count else { throw BboltError(.corrupt, "\(label): branch element \(i) runs past the page") }
            return buf.le(e + 8)
        }
    }

    /// Page `id` with its overflow, checked to lie below the high-water mark and inside the file.
    func page(_ id: UInt64) throws -> PageRef {
        guard id >= 2, id < pageCount else {
            throw BboltError(.corrupt, "page \(id) is out of range (pages 2..<\(pageCount) hold data)")
        }
        let off = Int(id) * pageSize
        let hdr = UnsafeRawBufferPointer(rebasing: file[off..<(off + Layout.pageHeaderSize)])
        guard hdr.le(0, as: UInt64.self) == id else { throw BboltError(.corrupt, "page \(id): header names page \(hdr.le(0, as: UInt64.self) as UInt64)") }
        let overflow = UInt64(hdr.le(12, as: UInt32.self))
        guard id + overflow < pageCount else { throw BboltError(.corrupt, "page \(id): \(overflow) overflow pages run past the end") }
        let end = off + (Int(overflow) + 1) * pageSize
        return try PageRef(UnsafeRawBufferPointer(rebasing: file[off..<end]), label: "page \(id)")
    }

    // MARK: buckets

    enum BucketRoot {
        case page(UInt64)
        case inline(UnsafeRawBufferPointer)
    }

    private var rootBucket: BucketRoot { .page(meta.rootPage) }

    /// Calls `body` with every leaf element under `root`, in key order.
    private func walk(_ root: BucketRoot, _ body: (UInt32, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws {
        switch root {
        case .inline(let buf):
            let p = try PageRef(buf, label: "inline bucket")
            guard p.flags & Layout.leafFlag != 0 else { throw BboltError(.corrupt, "inline bucket page is not a leaf") }
            for i in 0..<p.count {
                let e = try p.leaf(i)
                try body(e.flags, e.key, e.value)
            }
        case .page(let id):
            // A valid tree reaches each page once, so visiting more than pageCount pages (or
            // descending deeper than any real tree) means a cycle.
            var budget = pageCount
            try walkPage(id, depth: 0, budget: &budget, body)
        }
    }

    private func walkPage(_ id: UInt64, depth: Int, budget: inout UInt64,
                          _ body: (UInt32, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws {
        guard depth < 64, budget > 0 else { throw BboltError(.corrupt, "page \(id): the tree loops") }
        budget -= 1
        let p = try page(id)
        if p.flags & Layout.leafFlag != 0 {
            for i in 0..<p.count {
                let e = try p.leaf(i)
                try body(e.flags, e.key, e.value)
            }
        } else if p.flags & Layout.branchFlag != 0 {
            for i in 0..<p.count {
                try walkPage(try p.branchChild(i), depth: depth + 1, budget: &budget, body)
            }
        } else {
            throw BboltError(.corrupt, "page \(id): flags \(p.flags) where a branch or leaf page belongs")
        }
    }

    /// Where the bucket whose header is `value` keeps its entries.
    private func bucketRoot(header value: UnsafeRawBufferPointer, name: String) throws -> BucketRoot {
        guard value.count >= Layout.bucketHeaderSize else { throw BboltError(.corrupt, "bucket \(name): short header") }
        let root: UInt64 = value.le(0)
        if root != 0 { return .page(root) }
        return .inline(UnsafeRawBufferPointer(rebasing: value[Layout.bucketHeaderSize...]))
    }

    /// The bucket at `path` (names from the top), or bucketNotFound.
    private func resolve(_ path: [[UInt8]]) throws -> BucketRoot {
        var current = rootBucket
        for (depth, name) in path.enumerated() {
            var found: BucketRoot?
            let label = path[...depth].map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
            try walk(current) { flags, k, v in
                if found == nil, flags & Layout.bucketLeafFlag != 0, k.elementsEqual(name) {
                    found = try bucketRoot(header: v, name: label)
                }
            }
            guard let f = found else { throw BboltError(.bucketNotFound, "no bucket \(label)") }
            current = f
        }
        return current
    }

    /// Names of the buckets inside the bucket at `path` (top level when empty), in order.
    public func bucketNames(in path: [[UInt8]] = []) throws -> [[UInt8]] {
        var names: [[UInt8]] = []
        try walk(try resolve(path)) { flags, k, _ in
            if flags & Layout.bucketLeafFlag != 0 { names.append(Array(k)) }
        }
        return names
    }

    /// Top-level bucket names as strings (etcd's are ASCII).
    public var bucketNames: [String] {
        get throws { try bucketNames(in: []).map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Every entry (keys and nested buckets) of the bucket at `path`, in key order.
    public func forEach(bucketPath path: [[UInt8]], _ body: (BboltEntry) throws -> Void) throws {
        try walk(try resolve(path)) { flags, k, v in
            try body(BboltEntry(key: Array(k), value: Array(v), isBucket: flags & Layout.bucketLeafFlag != 0))
        }
    }

    /// Every key/value of the top-level bucket `bucket`, in key order; nested buckets are skipped.
    public func forEach(bucket: String, _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Void) throws {
        try walk(try resolve([Array(bucket.utf8)])) { flags, k, v in
            if flags & Layout.bucketLeafFlag == 0 { try body(Array(k), Array(v)) }
        }
    }

    /// The value under `key` in top-level `bucket`, or nil.
    public func get(bucket: String, key: [UInt8]) throws -> [UInt8]? {
        var out: [UInt8]?
        try forEach(bucket: bucket) { k, v in if out == nil, k == key { out = v } }
        return out
    }

    /// Page ids on the freelist (empty when the file stores none).
    public func freePages() throws -> [UInt64] {
        if meta.freelistPage == Layout.noFreelist { return [] }
        guard meta.freelistPage >= 2, meta.freelistPage < pageCount else {
            throw BboltError(.corrupt, "freelist page \(meta.freelistPage) is out of range")
        }
        let off = Int(meta.freelistPage) * pageSize
        let hdr = UnsafeRawBufferPointer(rebasing: file[off..<(off + Layout.pageHeaderSize)])
        guard hdr.le(8, as: UInt16.self) & Layout.freelistFlag != 0 else {
            throw BboltError(.corrupt, "page \(meta.freelistPage) is not a freelist")
        }
        let overflow = Int(hdr.le(12, as: UInt32.self))
        let end = off + (overflow + 1) * pageSize
        guard end <= Int(pageCount) * pageSize else { throw BboltError(.corrupt, "freelist runs past the end") }
        var count = Int(hdr.le(10, as: UInt16.self))
        var start = off + Layout.pageHeaderSize
        if count == Int(Layout.freelistCountOverflow) {
            count = Int(clamping: file.le(start, as: UInt64.self) as UInt64)
            start += 8
        }
        guard count <= (end - start) / 8 else { throw BboltError(.corrupt, "freelist count \(count) runs past its page") }
        return (0..<count).map { file.le(start + $0 * 8) }
    }
}
