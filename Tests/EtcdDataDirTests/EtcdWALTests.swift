import EtcdProto
import Foundation
import Storage
import XCTest

@testable import EtcdDataDir

/// Reads the files real etcd 3.4 wrote (tools/make-etcd-datadir-fixtures.sh) and damaged copies.
final class EtcdWALTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let basic = fixtures.appendingPathComponent("basic/member").path
    var tmp = ""

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "etcd-datadir-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    /// A copy of the fixture's member dir to damage.
    func copyMember() throws -> String {
        let dst = tmp + "/member"
        try FileManager.default.copyItem(atPath: Self.basic, toPath: dst)
        return dst
    }

    func walFile(_ member: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: member + "/wal").filter { $0.hasSuffix(".wal") }
        return member + "/wal/" + names.sorted().last!
    }

    func testRecognisesEtcdWALAndNotOurs() throws {
        XCTAssertTrue(EtcdWAL.isEtcdWAL(dir: Self.basic + "/wal"))
        let ours = try WAL.create(dir: tmp + "/ours", metadata: [1, 2, 3], options: WAL.Options(segmentSize: 4096))
        try ours.append(.entry(WALEntry(index: 1, term: 1, data: [9])))
        try ours.close()
        XCTAssertFalse(EtcdWAL.isEtcdWAL(dir: tmp + "/ours"))
        XCTAssertFalse(EtcdWAL.isEtcdWAL(dir: tmp + "/missing"))
    }

    func testReadsRealWALFromEveryMark() throws {
        let dir = Self.basic + "/wal"
        let marks = try EtcdWAL.validSnapshotMarks(dir: dir)
        XCTAssertEqual(marks.first, EtcdSnapshotMark(index: 0, term: 0))
        XCTAssertGreaterThanOrEqual(marks.count, 2, "snapshot-count 8 made marks: \(marks)")
        let all = try EtcdWAL.readAll(dir: dir, from: marks[0])
        XCTAssertNotEqual(all.nodeID, 0)
        XCTAssertNotEqual(all.clusterID, 0)
        XCTAssertFalse(all.tail.torn)
        XCTAssertEqual(all.entries.map { $0.index ?? 0 }, Array(1...UInt64(all.entries.count)))
        XCTAssertEqual(all.hardState.commit, all.entries.last?.index, "a clean stop commits everything")
        // The last puts (k11..k13) are in the log as InternalRaftRequests.
        XCTAssertTrue(all.entries.contains { contains($0.data ?? [], "k13") })
        for m in marks {
            let after = try EtcdWAL.readAll(dir: dir, from: m)
            XCTAssertEqual(after.entries, Array(all.entries.drop { ($0.index ?? 0) <= m.index }), "from \(m)")
            XCTAssertEqual(after.hardState, all.hardState)
        }
        XCTAssertThrowsError(try EtcdWAL.readAll(dir: dir, from: EtcdSnapshotMark(index: 5, term: 2))) {
            XCTAssertEqual($0 as? EtcdDataDirError, .snapshotNotFound(index: 5, term: 2))
        }
        XCTAssertThrowsError(try EtcdWAL.readAll(dir: dir, from: EtcdSnapshotMark(index: marks[1].index, term: 99)))
    }

    func testNewestSnapMatchesAWALMark() throws {
        let marks = try EtcdWAL.validSnapshotMarks(dir: Self.basic + "/wal")
        let loaded = try XCTUnwrap(EtcdSnap.loadNewestAvailable(dir: Self.basic + "/snap", marks: marks))
        XCTAssertEqual(loaded.mark, marks.last)
        XCTAssertTrue(loaded.skipped.isEmpty)
        XCTAssertEqual(loaded.snapshot.metadata?.confState?.voters.count, 1)
        XCTAssertNil(EtcdSnap.loadNewestAvailable(dir: Self.basic + "/snap", marks: [EtcdSnapshotMark(index: 1, term: 1)]))
    }

    func testTruncatedSnapIsSkippedForAnOlderOne() throws {
        let member = try copyMember()
        let snaps = try FileManager.default.contentsOfDirectory(atPath: member + "/snap").filter { $0.hasSuffix(".snap") }.sorted()
        XCTAssertGreaterThanOrEqual(snaps.count, 2)
        let newest = member + "/snap/" + snaps.last!
        truncate(newest, off_t(100))
        XCTAssertThrowsError(try EtcdSnap.read(file: newest)) { e in
            guard case .badSnap(let f, _) = e as? EtcdDataDirError else { return XCTFail("\(e)") }
            XCTAssertEqual(f, newest)
        }
        let marks = try EtcdWAL.validSnapshotMarks(dir: member + "/wal")
        let loaded = try XCTUnwrap(EtcdSnap.loadNewestAvailable(dir: member + "/snap", marks: marks))
        XCTAssertEqual(loaded.file, member + "/snap/" + snaps[snaps.count - 2])
        XCTAssertEqual(loaded.skipped.count, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: newest), "etcd's files are left in place")
    }

    func testTornTailEndsTheLog() throws {
        let member = try copyMember()
        let file = try walFile(member)
        let full = try EtcdWAL.readAll(dir: member + "/wal", from: EtcdSnapshotMark(index: 0, term: 0))
        let original = try Data(contentsOf: URL(fileURLWithPath: file))
        // A frame that claims more bytes than were written (a crash mid-append).
        var tail = Data([100, 0, 0, 0, 0, 0, 0, 0])
        tail.append(Data(repeating: 7, count: 20))
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try h.seekToEnd()
        try h.write(contentsOf: tail)
        try h.close()
        let torn = try EtcdWAL.readAll(dir: member + "/wal", from: EtcdSnapshotMark(index: 0, term: 0))
        XCTAssertTrue(torn.tail.torn)
        XCTAssertEqual(torn.entries, full.entries)
        XCTAssertEqual(torn.tail.offset, full.tail.offset)

        // The last record cut short: everything before it stands.
        truncate(file, off_t(full.tail.offset - 3))
        let cut = try EtcdWAL.readAll(dir: member + "/wal", from: EtcdSnapshotMark(index: 0, term: 0))
        XCTAssertTrue(cut.tail.torn)
        XCTAssertLessThan(cut.tail.offset, full.tail.offset)
        XCTAssertEqual(cut.entries, Array(full.entries.prefix(cut.entries.count)))

        // Zero-filled preallocated space after the records is simply the end.
        try original.write(to: URL(fileURLWithPath: file))
        truncate(file, off_t(full.tail.offset + 4096))
        let padded = try EtcdWAL.readAll(dir: member + "/wal", from: EtcdSnapshotMark(index: 0, term: 0))
        XCTAssertFalse(padded.tail.torn)
        XCTAssertEqual(padded.entries, full.entries)
    }

    func testCorruptMiddleIsAClearError() throws {
        let member = try copyMember()
        let file = try walFile(member)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        // Flip a byte of the put of k5, well before the tail.
        let at = try XCTUnwrap(find(bytes, "k5"))
        bytes[at] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try EtcdWAL.readAll(dir: member + "/wal", from: EtcdSnapshotMark(index: 0, term: 0))) { e in
            guard case .corrupt(let f, let off, let reason) = e as? EtcdDataDirError else { return XCTFail("\(e)") }
            XCTAssertEqual(f, file)
            XCTAssertLessThan(off, at)
            XCTAssertEqual(reason, "CRC mismatch")
            XCTAssertTrue("\(e)".contains(file))
        }
    }

    func testGarbageAndMissingDirs() throws {
        XCTAssertThrowsError(try EtcdWAL.readAll(dir: tmp + "/none", from: EtcdSnapshotMark(index: 0, term: 0))) {
            XCTAssertEqual($0 as? EtcdDataDirError, .noWAL(dir: self.tmp + "/none"))
        }
        try FileManager.default.createDirectory(atPath: tmp + "/g", withIntermediateDirectories: true)
        let seg = tmp + "/g/0000000000000000-0000000000000000.wal"
        try Data((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }).write(to: URL(fileURLWithPath: seg))
        XCTAssertThrowsError(try EtcdWAL.readAll(dir: tmp + "/g", from: EtcdSnapshotMark(index: 0, term: 0)))
        XCTAssertFalse(EtcdWAL.isEtcdWAL(dir: tmp + "/g"))
        try Data().write(to: URL(fileURLWithPath: tmp + "/g/0000000000000002-0000000000000009.wal"))
        XCTAssertThrowsError(try EtcdWAL.readAll(dir: tmp + "/g", from: EtcdSnapshotMark(index: 0, term: 0))) { e in
            guard case .badSegments = e as? EtcdDataDirError else { return XCTFail("\(e)") }
        }
    }

    private func find(_ bytes: [UInt8], _ s: String) -> Int? {
        let n = Array(s.utf8)
        guard bytes.count >= n.count else { return nil }
        return (0...(bytes.count - n.count)).first { Array(bytes[$0..<$0 + n.count]) == n }
    }

    private func contains(_ bytes: [UInt8], _ s: String) -> Bool { find(bytes, s) != nil }
}
