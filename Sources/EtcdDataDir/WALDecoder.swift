import EtcdProto
import Storage

/// etcd's WAL record types (wal/wal.go).
enum EtcdRecordType: Int64 {
    case metadata = 1, entry = 2, state = 3, crc = 4, snapshot = 5
}

/// One `%016x-%016x.wal` segment: its sequence number and the index of its first entry.
struct SegmentFile: Equatable {
    var seq: UInt64
    var index: UInt64
    var path: String
}

/// Where decoding stopped: the end of the last segment (or its zero-filled, preallocated rest),
/// or a torn record at its tail, which etcd's repair cuts off.
struct DecodeEnd: Equatable {
    var file: String
    /// Offset just past the last valid record of `file`.
    var validOffset: Int
    var torn: Bool
}

/// Decodes the frames of consecutive segments as etcd's `wal/decoder.go` reads them: an 8-byte
/// little-endian length word (record size in the low 56 bits; when the top bit is set, the low
/// 3 bits of the top byte give the zero padding that follows), then a `walpb.Record`. The CRC-32C
/// of every record's data continues the previous one's, across segments; a `crc` record opening
/// a segment carries the chain value so far and must match it.
///
/// Only the last segment may end early: a short frame there, or a damaged record with a 512-byte
/// sector of zeros in it (a write the disk never finished), is the torn tail and ends decoding.
/// Anything else damaged is `EtcdDataDirError.corrupt`.
struct WALDecoder {
    static let maxRecordBytes = 10 * 1024 * 1024
    static let sectorSize = 512

    let segments: [SegmentFile]

    func run(_ visit: (Walpb_Record, String) throws(EtcdDataDirError) -> Void) throws(EtcdDataDirError) -> DecodeEnd {
        var crc: UInt32 = 0
        var end = DecodeEnd(file: segments.last?.path ?? "", validOffset: 0, torn: false)
        for (k, seg) in segments.enumerated() {
            let bytes = try Files.read(seg.path)
            let isLast = k == segments.count - 1
            var off = 0
            func tornOrCorrupt(_ reason: String, data: ArraySlice<UInt8>?) throws(EtcdDataDirError) -> Bool {
                if isLast && (data.map { Self.hasZeroSector($0, fileOffset: off + 8) } ?? true) { return true }
                throw .corrupt(file: seg.path, offset: off, reason: reason)
            }
            frames: while off < bytes.count {
                guard off + 8 <= bytes.count else {
                    if try tornOrCorrupt("short length word", data: nil) { end.torn = true }
                    break
                }
                let word = bytes[off..<off + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                if word == 0 { break frames }  // preallocated space
                let recBytes = Int(word & 0x00FF_FFFF_FFFF_FFFF)
                let padBytes = word >> 63 == 1 ? Int((word >> 56) & 0x7) : 0
                guard recBytes < Self.maxRecordBytes - padBytes else {
                    throw .corrupt(file: seg.path, offset: off, reason: "record of \(recBytes) bytes exceeds the 10 MB limit")
                }
                guard off + 8 + recBytes + padBytes <= bytes.count else {
                    if try tornOrCorrupt("record runs past the end of the file", data: nil) { end.torn = true }
                    break
                }
                let data = bytes[(off + 8)..<(off + 8 + recBytes)]
                let framed = bytes[(off + 8)..<(off + 8 + recBytes + padBytes)]
                let rec: Walpb_Record
                do {
                    rec = try Array(data).withUnsafeBytes { try Walpb_Record(serializedBytes: $0) }
                } catch {
                    if try tornOrCorrupt("malformed walpb.Record", data: framed) { end.torn = true }
                    break
                }
                if rec.type == EtcdRecordType.crc.rawValue {
                    // A new segment's first record: the chain so far must match (0 is a fresh start).
                    if crc != 0 && rec.crc != crc {
                        throw .corrupt(file: seg.path, offset: off, reason: "CRC chain broken between segments")
                    }
                    crc = rec.crc ?? 0
                } else {
                    let payload = rec.data ?? []
                    crc = payload.withUnsafeBytes { CRC32C.update(crc, $0) }
                    if rec.crc != crc {
                        if try tornOrCorrupt("CRC mismatch", data: framed) { end.torn = true }
                        break
                    }
                }
                try visit(rec, seg.path)
                off += 8 + recBytes + padBytes
            }
            end = DecodeEnd(file: seg.path, validOffset: off, torn: end.torn)
        }
        return end
    }

    /// etcd's isTornEntry: whether some sector-aligned piece of a record's bytes is all zeros.
    static func hasZeroSector(_ data: ArraySlice<UInt8>, fileOffset: Int) -> Bool {
        var fileOff = fileOffset
        var i = data.startIndex
        while i < data.endIndex {
            let len = min(sectorSize - fileOff % sectorSize, data.endIndex - i)
            if data[i..<i + len].allSatisfy({ $0 == 0 }) { return true }
            fileOff += len
            i += len
        }
        return false
    }
}

/// The segments of `dir`, in sequence order, checked to be gap-free (etcd's isValidSeq).
func listSegments(_ dir: String) throws(EtcdDataDirError) -> [SegmentFile] {
    guard let names = Files.list(dir) else { throw .noWAL(dir: dir) }
    var segs: [SegmentFile] = names.compactMap { name in
        parseHexPair(name, suffix: ".wal").map { SegmentFile(seq: $0.0, index: $0.1, path: dir + "/" + name) }
    }
    guard !segs.isEmpty else { throw .noWAL(dir: dir) }
    segs.sort { $0.seq < $1.seq }
    for k in 1..<segs.count where segs[k].seq != segs[k - 1].seq + 1 {
        throw .badSegments(dir: dir, detail: "sequence jumps from \(segs[k - 1].seq) to \(segs[k].seq)")
    }
    return segs
}
