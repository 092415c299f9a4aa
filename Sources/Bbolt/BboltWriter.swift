#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a bbolt file that bbolt (and so etcd) opens, from top-level buckets whose keys arrive in
/// increasing order. Pages stream to the file as they fill: leaves first, then the branch pages
/// above them level by level, so memory holds about one page per tree level, never the data.
///
///     let w = try BboltWriter(path: tmp)
///     try w.beginBucket("key"); try w.put(k, v); ...; try w.endBucket()
///     try w.finish()   // root bucket, an empty freelist, both meta pages, fsync
///
/// Page 0 and 1 are the metas, page 2 the freelist, data from page 3 on with no gaps, so bbolt's
/// `tx.Check()` finds every page reachable. Buckets whose leaf fits in a quarter page are written
/// inline, inside the root bucket's value, as bbolt stores them.
/// Nested buckets are not supported (etcd has none).
public final class BboltWriter {
    public let path: String
    public let pageSize: Int
    private var fd: Int32
    private var nextPage: UInt64 = 3
    private var buckets: [(name: [UInt8], value: [UInt8])] = []
    private var current: TreeBuilder?
    /// The open bucket's entries while they could still be stored inline (nil once too big).
    private var inline: [Entry]? = []
    private var inlineBytes = Layout.pageHeaderSize
    private var currentName: [UInt8] = []
    private var lastKey: [UInt8]?
    private var finished = false

    /// Creates (or truncates) `path`, mode 0600.
    public init(path: String, pageSize: Int = 4096) throws {
        precondition(pageSize >= 1024 && pageSize & (pageSize - 1) == 0, "page size must be a power of two >= 1024")
        self.path = path
        self.pageSize = pageSize
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BboltError(.io, "create \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Closes the file without finishing it (the caller removes it).
    public func abort() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    public func beginBucket(_ name: String) throws { try beginBucket(Array(name.utf8)) }

    public func beginBucket(_ name: [UInt8]) throws {
        guard fd >= 0, !finished else { throw BboltError(.misuse, "writer is closed") }
        guard current == nil else { throw BboltError(.misuse, "bucket \(Self.show(currentName)) is still open") }
        guard !name.isEmpty, name.count <= Layout.maxKeySize else { throw BboltError(.misuse, "bad bucket name length \(name.count)") }
        guard !buckets.contains(where: { $0.name == name }) else { throw BboltError(.misuse, "bucket \(Self.show(name)) written twice") }
        current = TreeBuilder(pageSize: pageSize)
        inline = []
        inlineBytes = Layout.pageHeaderSize
        currentName = name
        lastKey = nil
    }

    /// Adds a key to the open bucket; keys must be non-empty and strictly increasing (bytewise).
    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        guard current != nil else { throw BboltError(.misuse, "put with no bucket open") }
        guard !key.isEmpty, key.count <= Layout.maxKeySize else { throw BboltError(.misuse, "bad key length \(key.count)") }
        guard value.count <= Layout.maxValueSize else { throw BboltError(.misuse, "value of \(value.count) bytes is too long") }
        if let last = lastKey, !last.lexicographicallyPrecedes(key) {
            throw BboltError(.misuse, "bucket \(Self.show(currentName)): keys out of order")
        }
        lastKey = key
        let entry = Entry(key: key, value: value, flags: 0)
        if inline != nil {
            // As bbolt: a bucket whose leaf would take at most a quarter page lives inside its
            // parent's value; past that, the entries held so far start its tree.
            inlineBytes += Layout.leafElementSize + key.count + value.count
            if inlineBytes <= pageSize / 4 {
                inline!.append(entry)
                return
            }
            for e in inline! { try current!.add(e, sink: self) }
            inline = nil
        }
        try current!.add(entry, sink: self)
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        try put(Array(key), Array(value))
    }

    public func endBucket() throws {
        guard var tree = current else { throw BboltError(.misuse, "endBucket with no bucket open") }
        current = nil
        let value: [UInt8]
        if let entries = inline {
            // Root 0, then the leaf page itself, unpadded (an empty bucket too, as bbolt makes it).
            let size = entries.reduce(Layout.pageHeaderSize) { $0 + Layout.leafElementSize + $1.key.count + $1.value.count }
            value = Self.bucketHeader(root: 0) + Self.leafPage(entries, pageSize: pageSize).prefix(size)
        } else {
            guard let root = try tree.finish(sink: self) else { preconditionFailure("a bucket past inline size has entries") }
            value = Self.bucketHeader(root: root)
        }
        inline = []
        buckets.append((currentName, value))
    }

    /// Writes the root bucket, the freelist and both metas, then fsyncs and closes the file.
    public func finish() throws {
        guard fd >= 0, !finished else { throw BboltError(.misuse, "writer is closed") }
        guard current == nil else { throw BboltError(.misuse, "bucket \(Self.show(currentName)) is still open") }
        var root = TreeBuilder(pageSize: pageSize)
        for b in buckets.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
            try root.add(Entry(key: b.name, value: b.value, flags: Layout.bucketLeafFlag), sink: self)
        }
        let rootPage: UInt64
        if let r = try root.finish(sink: self) {
            rootPage = r
        } else {
            rootPage = try writePage(Self.leafPage([], pageSize: pageSize))
        }
        // An empty freelist at page 2.
        var freelist = [UInt8](repeating: 0, count: pageSize)
        freelist.withUnsafeMutableBytes { b in
            b.putLE(UInt64(2), at: 0)
            b.putLE(Layout.freelistFlag, at: 8)
        }
        try pwriteAll(freelist, at: 2)
        for (page, txid) in [(UInt64(0), UInt64(2)), (1, 1)] {
            var buf = [UInt8](repeating: 0, count: pageSize)
            let meta = Meta(pageSize: UInt32(pageSize), rootPage: rootPage, freelistPage: 2, highWater: nextPage, txid: txid)
            buf.withUnsafeMutableBytes { b in
                b.putLE(page, at: 0)
                b.putLE(Layout.metaFlag, at: 8)
            }
            buf.replaceSubrange(Layout.pageHeaderSize..<(Layout.pageHeaderSize + Layout.metaSize), with: meta.encoded())
            try pwriteAll(buf, at: page)
        }
        guard fsync(fd) == 0 else { throw BboltError(.io, "fsync \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        finished = true
    }

    /// Pages the file holds once finished (or so far).
    public var pageCount: UInt64 { nextPage }

    // MARK: pages

    struct Entry {
        var key: [UInt8]
        var value: [UInt8]
        var flags: UInt32
    }

    /// Writes one page (with overflow) at the next free id and returns the id.
    func writePage(_ bytes: [UInt8]) throws -> UInt64 {
        let id = nextPage
        var bytes = bytes
        bytes.withUnsafeMutableBytes { $0.putLE(id, at: 0) }
        try pwriteAll(bytes, at: id)
        nextPage += UInt64(bytes.count / pageSize)
        return id
    }

    private func pwriteAll(_ bytes: [UInt8], at page: UInt64) throws {
        var done = 0
        let base = off_t(page) * off_t(pageSize)
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, base + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BboltError(.io, "write \(path): \(String(cString: strerror(errno)))") }
            done += n
        }
    }

    static func pageBytes(_ size: Int, pageSize: Int) -> Int { (size + pageSize - 1) / pageSize * pageSize }

    /// A leaf page (overflowing as needed) holding `entries`; the id is filled in when written.
    static func leafPage(_ entries: [Entry], pageSize: Int) -> [UInt8] {
        let size = Layout.pageHeaderSize + entries.count * Layout.leafElementSize
            + entries.reduce(0) { $0 + $1.key.count + $1.value.count }
        var buf = [UInt8](repeating: 0, count: pageBytes(size, pageSize: pageSize))
        buf.withUnsafeMutableBytes { b in
            b.putLE(Layout.leafFlag, at: 8)
            b.putLE(UInt16(entries.count), at: 10)
            b.putLE(UInt32(b.count / pageSize - 1), at: 12)
            var data = Layout.pageHeaderSize + entries.count * Layout.leafElementSize
            for (i, e) in entries.enumerated() {
                let el = Layout.pageHeaderSize + i * Layout.leafElementSize
                b.putLE(e.flags, at: el)
                b.putLE(UInt32(data - el), at: el + 4)
                b.putLE(UInt32(e.key.count), at: el + 8)
                b.putLE(UInt32(e.value.count), at: el + 12)
                b.copy(e.key, at: data)
                data += e.key.count
                b.copy(e.value, at: data)
                data += e.value.count
            }
        }
        return buf
    }

    static func branchPage(_ children: [(key: [UInt8], page: UInt64)], pageSize: Int) -> [UInt8] {
        let size = Layout.pageHeaderSize + children.count * Layout.branchElementSize
            + children.reduce(0) { $0 + $1.key.count }
        var buf = [UInt8](repeating: 0, count: pageBytes(size, pageSize: pageSize))
        buf.withUnsafeMutableBytes { b in
            b.putLE(Layout.branchFlag, at: 8)
            b.putLE(UInt16(children.count), at: 10)
            b.putLE(UInt32(b.count / pageSize - 1), at: 12)
            var data = Layout.pageHeaderSize + children.count * Layout.branchElementSize
            for (i, c) in children.enumerated() {
                let el = Layout.pageHeaderSize + i * Layout.branchElementSize
                b.putLE(UInt32(data - el), at: el)
                b.putLE(UInt32(c.key.count), at: el + 4)
                b.putLE(c.page, at: el + 8)
                b.copy(c.key, at: data)
                data += c.key.count
            }
        }
        return buf
    }

    static func bucketHeader(root: UInt64) -> [UInt8] {
        var h = [UInt8]()
        h.appendLE(root)
        h.appendLE(UInt64(0))  // sequence
        return h
    }

    static func show(_ name: [UInt8]) -> String { String(decoding: name, as: UTF8.self) }
}

/// One bucket's B+tree built bottom-up: a pending leaf, and per level above it the children
/// waiting for their branch page. A page is written as soon as the next item would not fit.
struct TreeBuilder {
    let pageSize: Int
    private var leaf: [BboltWriter.Entry] = []
    private var leafBytes = Layout.pageHeaderSize
    private var levels: [Level] = []

    struct Level {
        var children: [(key: [UInt8], page: UInt64)] = []
        var bytes = Layout.pageHeaderSize
        var flushed = false
    }

    init(pageSize: Int) { self.pageSize = pageSize }

    mutating func add(_ e: BboltWriter.Entry, sink: BboltWriter) throws {
        let size = Layout.leafElementSize + e.key.count + e.value.count
        if !leaf.isEmpty && leafBytes + size > pageSize { try flushLeaf(sink) }
        leaf.append(e)
        leafBytes += size
    }

    private mutating func flushLeaf(_ sink: BboltWriter) throws {
        let id = try sink.writePage(BboltWriter.leafPage(leaf, pageSize: pageSize))
        try addChild(level: 0, key: leaf[0].key, page: id, sink: sink)
        leaf = []
        leafBytes = Layout.pageHeaderSize
    }

    private mutating func addChild(level: Int, key: [UInt8], page: UInt64, sink: BboltWriter) throws {
        if levels.count == level { levels.append(Level()) }
        let size = Layout.branchElementSize + key.count
        // At least two children per branch page (bbolt's minKeysPerPage), overflowing when keys
        // are long: one child per page would stack levels without bound.
        if levels[level].children.count >= 2 && levels[level].bytes + size > pageSize {
            try flushBranch(level: level, sink: sink)
        }
        levels[level].children.append((key, page))
        levels[level].bytes += size
    }

    private mutating func flushBranch(level: Int, sink: BboltWriter) throws {
        let children = levels[level].children
        let id = try sink.writePage(BboltWriter.branchPage(children, pageSize: pageSize))
        levels[level].children = []
        levels[level].bytes = Layout.pageHeaderSize
        levels[level].flushed = true
        try addChild(level: level + 1, key: children[0].key, page: id, sink: sink)
    }

    /// Writes what is pending and returns the root page, or nil for a tree with no entries.
    mutating func finish(sink: BboltWriter) throws -> UInt64? {
        if !leaf.isEmpty { try flushLeaf(sink) }
        var level = 0
        while level < levels.count {
            let l = levels[level]
            if level == levels.count - 1 && !l.flushed && l.children.count == 1 { return l.children[0].page }
            if !l.children.isEmpty { try flushBranch(level: level, sink: sink) }
            level += 1
        }
        return nil
    }
}

extension UnsafeMutableRawBufferPointer {
    /// memcpy of `bytes` to `offset` (a byte loop is slow in debug builds, which serve snapshots too).
    fileprivate func copy(_ bytes: [UInt8], at offset: Int) {
        bytes.withUnsafeBytes { src in
            guard let s = src.baseAddress, src.count > 0 else { return }
            (baseAddress! + offset).copyMemory(from: s, byteCount: src.count)
        }
    }
}
