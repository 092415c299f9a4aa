import Glibc

/// Where reading a segment stopped.
struct SegmentEnd {
    /// Offset just past the last valid record.
    var offset: Int
    /// Bytes after `offset` are a torn write (not zeros) and must be cleared before appending.
    var torn: Bool
}

/// Reads the records of one segment, continuing the CRC chain `crc`.
///
/// A damaged record in the last segment is a torn tail (an unfinished write of the crash) when
/// nothing but zeros follows it, or when it spans an all-zero 512-byte sector (the disk wrote
/// later sectors first, as etcd's decoder also accepts); anywhere else it is corruption.
func readSegment(_ bytes: [UInt8], file: String, isLast: Bool, crc: inout UInt32,
                 _ visit: (WALRecord) throws -> Void) throws -> SegmentEnd {
    try bytes.withUnsafeBytes { b -> SegmentEnd in
        let n = b.count
        var off = 0
        var sawCRC = false

        func allZero(_ from: Int, _ to: Int) -> Bool { isZero(b, from, to) }
        func hasZeroSector(_ from: Int, _ to: Int) -> Bool {
            var s = from
            while s < to {
                let e = min(to, (s / 512 + 1) * 512)
                if allZero(s, e) { return true }
                s = e
            }
            return false
        }
        func bad(_ reason: String, frameEnd: Int) throws -> SegmentEnd {
            let end = min(frameEnd, n)
            if isLast && (allZero(end, n) || hasZeroSector(off + frameHeaderSize, end)) {
                return SegmentEnd(offset: off, torn: true)
            }
            throw WALError.corrupt(file: file, offset: off, reason: reason)
        }

        while true {
            if off + frameHeaderSize > n {
                if allZero(off, n) { return SegmentEnd(offset: off, torn: false) }
                return try bad("truncated record header", frameEnd: n)
            }
            let len = Int(loadLE32(b, off))
            let rawType = b[off + 4]
            let stored = loadLE32(b, off + 8)
            if rawType == 0 && len == 0 && stored == 0 {
                if allZero(off, n) { return SegmentEnd(offset: off, torn: false) }
                if isLast { return SegmentEnd(offset: off, torn: true) }
                throw WALError.corrupt(file: file, offset: off, reason: "data after the end-of-segment marker")
            }
            let frameEnd = off + (frameHeaderSize + len + 7) / 8 * 8
            guard let type = RecordType(rawValue: rawType), b[off + 5] == 0, b[off + 6] == 0, b[off + 7] == 0 else {
                return try bad("unknown record type \(rawType)", frameEnd: off + frameHeaderSize)
            }
            guard frameEnd <= n, len <= n else { return try bad("record length \(len) past end of file", frameEnd: n) }
            let payload = UnsafeRawBufferPointer(rebasing: b[(off + frameHeaderSize)..<(off + frameHeaderSize + len)])
            let typeByte = UnsafeRawBufferPointer(rebasing: b[(off + 4)..<(off + 5)])
            if type == .crc {
                // The chain marker is checked on its own (chain value 0), then restarts the chain.
                guard CRC32C.update(CRC32C.update(0, typeByte), payload) == stored, len == 4 else {
                    return try bad("crc record checksum mismatch", frameEnd: frameEnd)
                }
                let carried = loadLE32(payload, 0)
                if crc != 0 && carried != crc {
                    throw WALError.corrupt(file: file, offset: off, reason: "crc chain broken between segments")
                }
                crc = carried
                sawCRC = true
            } else {
                guard sawCRC else {
                    throw WALError.corrupt(file: file, offset: off, reason: "segment does not start with a crc record")
                }
                let c = CRC32C.update(CRC32C.update(crc, typeByte), payload)
                guard c == stored else { return try bad("crc mismatch", frameEnd: frameEnd) }
                guard let record = decodePayload(type, payload) else {
                    return try bad("malformed \(type) payload", frameEnd: frameEnd)
                }
                crc = c
                try visit(record)
            }
            off = frameEnd
        }
    }
}

private let zeroChunk = [UInt8](repeating: 0, count: 64 * 1024)

/// Whether `b[from..<to]` is all zero bytes (memcmp against a zero block: this scans the
/// preallocated rest of a segment at start-up).
private func isZero(_ b: UnsafeRawBufferPointer, _ from: Int, _ to: Int) -> Bool {
    zeroChunk.withUnsafeBytes { z in
        var i = from
        while i < to {
            let n = min(to - i, z.count)
            if memcmp(b.baseAddress! + i, z.baseAddress!, n) != 0 { return false }
            i += n
        }
        return true
    }
}

/// Segment file name: sequence number and the raft index of the first entry it may hold.
func segmentName(seq: UInt64, index: UInt64) -> String {
    hex16(seq) + "-" + hex16(index) + ".wal"
}

func parseSegmentName(_ name: String) -> (seq: UInt64, index: UInt64)? {
    guard name.hasSuffix(".wal") else { return nil }
    let parts = name.dropLast(4).split(separator: "-")
    guard parts.count == 2, parts[0].count == 16, parts[1].count == 16,
          let s = UInt64(parts[0], radix: 16), let i = UInt64(parts[1], radix: 16) else { return nil }
    return (s, i)
}

private func hex16(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

// MARK: - Small POSIX helpers (throwing WALError.io)

func walOpen(_ path: String, _ flags: Int32) throws -> Int32 {
    let fd = open(path, flags | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw WALError.io(operation: "open", path: path, errno: errno) }
    return fd
}

func walReadFile(_ path: String) throws -> [UInt8] {
    let fd = try walOpen(path, O_RDONLY)
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw WALError.io(operation: "fstat", path: path, errno: errno) }
    let size = Int(st.st_size)
    var buf = [UInt8](repeating: 0, count: size)
    var done = 0
    try buf.withUnsafeMutableBytes { p in
        while done < size {
            let r = pread(fd, p.baseAddress! + done, size - done, off_t(done))
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { throw WALError.io(operation: "read", path: path, errno: r == 0 ? EIO : errno) }
            done += r
        }
    }
    return buf
}

func walWriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws {
    var done = 0
    while done < bytes.count {
        let r = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
        if r < 0 && errno == EINTR { continue }
        guard r > 0 else { throw WALError.io(operation: "write", path: path, errno: errno) }
        done += r
    }
}

/// Reserves `size` zeroed bytes so later appends do not change the file size (fdatasync then
/// skips the metadata).
func walPreallocate(_ fd: Int32, _ size: Int, path: String) throws {
    if posix_fallocate(fd, 0, off_t(size)) == 0 { return }
    guard ftruncate(fd, off_t(size)) == 0 else { throw WALError.io(operation: "ftruncate", path: path, errno: errno) }
}

func walSyncDir(_ dir: String) throws {
    let fd = try walOpen(dir, O_RDONLY | O_DIRECTORY)
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw WALError.io(operation: "fsync", path: dir, errno: errno) }
}

func walListDir(_ dir: String) throws -> [String] {
    guard let d = opendir(dir) else { throw WALError.io(operation: "opendir", path: dir, errno: errno) }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        names.append(name)
    }
    return names
}

/// Creates `path` and its missing parents.
public func makeDirectories(_ path: String) throws {
    var cur = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        cur += "/" + part
        if mkdir(cur, 0o755) != 0 && errno != EEXIST {
            throw WALError.io(operation: "mkdir", path: cur, errno: errno)
        }
    }
}
