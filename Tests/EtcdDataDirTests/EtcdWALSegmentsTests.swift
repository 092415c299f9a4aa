import EtcdProto
import Foundation
import Storage
import XCTest

@testable import EtcdDataDir

/// Segments written here in etcd's frame format, for what a small real data dir cannot show: the
/// CRC chain across segments, a new leader's entries overwriting the tail, gaps.
final class EtcdWALSegmentsTests: XCTestCase {
    /// Writes etcd's frames: length word (padding in the top byte), `walpb.Record`, chained CRC.
    struct Writer {
        var crc: UInt32 = 0
        var bytes: [UInt8] = []

        mutating func record(_ type: Int64, _ data: [UInt8] = []) {
            var r = Walpb_Record()
            r.type = type
            if type == EtcdRecordType.crc.rawValue {
                r.crc = crc
            } else {
                crc = data.withUnsafeBytes { CRC32C.update(crc, $0) }
                r.crc = crc
                r.data = data
            }
            let body = r.serializedBytes()
            let pad = (8 - body.count % 8) % 8
            var len = UInt64(body.count)
            if pad > 0 { len |= UInt64(0x80 | pad) << 56 }
            bytes += withUnsafeBytes(of: len.littleEndian) { Array($0) } + body + [UInt8](repeating: 0, count: pad)
        }

        mutating func entry(_ index: UInt64, term: UInt64, _ text: String) {
            var e = Raftpb_Entry()
            e.index = index
            e.term = term
            e.type = Raftpb_EntryType(rawValue: 0)
            e.data = Array(text.utf8)
            record(EtcdRecordType.entry.rawValue, e.serializedBytes())
        }

        mutating func state(term: UInt64, commit: UInt64) {
            var h = Raftpb_HardState()
            h.term = term
            h.vote = 1
            h.commit = commit
            record(EtcdRecordType.state.rawValue, h.serializedBytes())
        }

        mutating func header(snapshot: (UInt64, UInt64)? = nil) {
            record(EtcdRecordType.crc.rawValue)
            var m = Etcdserverpb_Metadata()
            m.nodeID = 7
            m.clusterID = 9
            record(EtcdRecordType.metadata.rawValue, m.serializedBytes())
            if let (i, t) = snapshot {
                var s = Walpb_Snapshot()
                s.index = i
                s.term = t
                record(EtcdRecordType.snapshot.rawValue, s.serializedBytes())
            }
        }
    }

    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "etcd-segments-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ w: Writer) throws {
        try Data(w.bytes + [UInt8](repeating: 0, count: 1024)).write(to: URL(fileURLWithPath: dir + "/" + name))
    }

    /// Two segments; the second starts with the chain value and a new leader's entries at 3.
    func twoSegments(breakChain: Bool = false, gap: Bool = false) throws {
        var w = Writer()
        w.header(snapshot: (0, 0))
        for i in UInt64(1)...3 { w.entry(i, term: 1, "e\(i)") }
        w.state(term: 1, commit: 2)
        try write("0000000000000000-0000000000000000.wal", w)
        var next = Writer(crc: breakChain ? w.crc ^ 1 : w.crc)
        next.header()
        next.state(term: 2, commit: 2)
        next.entry(gap ? 5 : 3, term: 2, "e3'")
        next.entry(gap ? 6 : 4, term: 2, "e4")
        next.state(term: 2, commit: 4)
        try write("0000000000000001-0000000000000004.wal", next)
    }

    func testChainAcrossSegmentsAndOverwrittenTail() throws {
        try twoSegments()
        XCTAssertTrue(EtcdWAL.isEtcdWAL(dir: dir))
        let c = try EtcdWAL.readAll(dir: dir, from: EtcdSnapshotMark(index: 0, term: 0))
        XCTAssertEqual(c.entries.map { $0.index ?? 0 }, [1, 2, 3, 4])
        XCTAssertEqual(c.entries.map { String(decoding: $0.data ?? [], as: UTF8.self) }, ["e1", "e2", "e3'", "e4"])
        XCTAssertEqual(c.entries.map { $0.term ?? 0 }, [1, 1, 2, 2])
        XCTAssertEqual(c.hardState.commit, 4)
        XCTAssertEqual(c.nodeID, 7)
        XCTAssertEqual(c.clusterID, 9)
        XCTAssertFalse(c.tail.torn)
        XCTAssertEqual(try EtcdWAL.validSnapshotMarks(dir: dir), [EtcdSnapshotMark(index: 0, term: 0)])
    }

    func testBrokenChainBetweenSegmentsIsCorrupt() throws {
        try twoSegments(breakChain: true)
        XCTAssertThrowsError(try EtcdWAL.readAll(dir: dir, from: EtcdSnapshotMark(index: 0, term: 0))) { e in
            guard case .corrupt(let file, 0, "CRC chain broken between segments") = e as? EtcdDataDirError else {
                return XCTFail("\(e)")
            }
            XCTAssertTrue(file.hasSuffix("0000000000000001-0000000000000004.wal"))
        }
    }

    func testEntryGapIsAnError() throws {
        try twoSegments(gap: true)
        XCTAssertThrowsError(try EtcdWAL.readAll(dir: dir, from: EtcdSnapshotMark(index: 0, term: 0))) { e in
            guard case .entryGap(_, 4, 5) = e as? EtcdDataDirError else { return XCTFail("\(e)") }
        }
    }

    func testDamageInAnEarlierSegmentIsNeverATornTail() throws {
        try twoSegments()
        let first = dir + "/0000000000000000-0000000000000000.wal"
        var b = try [UInt8](Data(contentsOf: URL(fileURLWithPath: first)))
        // Cut the first segment inside its last record: only the last segment may end early.
        let used = b.count - 1024
        b.removeSubrange((used - 4)...)
        try Data(b).write(to: URL(fileURLWithPath: first))
        XCTAssertThrowsError(try EtcdWAL.readAll(dir: dir, from: EtcdSnapshotMark(index: 0, term: 0))) { e in
            guard case .corrupt(let file, _, _) = e as? EtcdDataDirError else { return XCTFail("\(e)") }
            XCTAssertEqual(file, first)
        }
    }
}
