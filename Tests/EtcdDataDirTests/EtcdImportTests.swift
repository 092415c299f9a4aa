import EtcdProto
import Foundation
import Storage
import XCTest

@testable import EtcdDataDir

/// The import of the data dir real etcd wrote (Fixtures/basic) into etcd-swift's layout.
final class EtcdImportTests: XCTestCase {
    var tmp = ""

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "etcd-import-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: EtcdWALTests.basic, toPath: tmp + "/member")
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/gunzip")
        gz.arguments = [tmp + "/member/snap/db.gz"]
        try gz.run()
        gz.waitUntilExit()
        XCTAssertEqual(gz.terminationStatus, 0)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    func testImportsBackendAndLogBesideEtcdsFiles() throws {
        let before = try FileManager.default.contentsOfDirectory(atPath: tmp + "/member/wal")
        let dbBefore = try Data(contentsOf: URL(fileURLWithPath: tmp + "/member/snap/db"))
        XCTAssertTrue(EtcdImport.needed(dataDir: tmp))
        XCTAssertEqual(MemberLayout.memberDir(dataDir: tmp), tmp + "/member")
        let summary = try EtcdImport.run(dataDir: tmp)
        XCTAssertFalse(EtcdImport.needed(dataDir: tmp), "imported once")
        let ours = MemberLayout.memberDir(dataDir: tmp)
        XCTAssertEqual(ours, tmp + "/member/etcd-swift")

        // etcd's files are untouched.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp + "/member/wal"), before)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: tmp + "/member/snap/db")), dbBefore)

        // The snapshot is the newest .snap; the log holds what etcd's WAL holds after it.
        let marks = try EtcdWAL.validSnapshotMarks(dir: tmp + "/member/wal")
        XCTAssertEqual(summary.snapshot, marks.last)
        let etcdLog = try EtcdWAL.readAll(dir: tmp + "/member/wal", from: summary.snapshot)
        let (wal, contents) = try WAL.open(dir: ours + "/wal", snapshot: WALSnapshot(index: summary.snapshot.index, term: summary.snapshot.term))
        try wal.close()
        XCTAssertEqual(contents.entries.map(\.index), etcdLog.entries.map { $0.index ?? 0 })
        XCTAssertEqual(contents.entries.map(\.data), etcdLog.entries.map { $0.data ?? [] })
        XCTAssertEqual(contents.hardState?.commit, etcdLog.hardState.commit)
        let meta = try Etcdserverpb_Metadata(serializedBytes: contents.metadata)
        XCTAssertEqual(meta.nodeID, etcdLog.nodeID)
        XCTAssertEqual(summary.nodeID, etcdLog.nodeID)

        // Every key revision of etcd's `key` bucket is in LMDB, byte for byte.
        let backend = try Backend(path: ours + "/snap/db")
        let tx = try backend.read()
        defer { tx.end() }
        let keys = try XCTUnwrap(summary.buckets.first { $0.name == "key" }?.keys)
        XCTAssertGreaterThan(keys, 10)
        XCTAssertEqual(try tx.get(.meta, MemberLayout.walSnapshotKey), MemberLayout.encode(mark: summary.snapshot))
        let ci = try XCTUnwrap(tx.get(.meta, Array("consistent_index".utf8)))
        XCTAssertEqual(ci.reduce(0) { $0 << 8 | UInt64($1) }, summary.consistentIndex)
        XCTAssertGreaterThanOrEqual(summary.consistentIndex, summary.snapshot.index)
        XCTAssertNotNil(try tx.get(.members, withUnsafeBytes(of: etcdLog.nodeID.bigEndian) { Array($0) }) ?? memberKey(tx, etcdLog.nodeID))
    }

    func testNothingToImportWithoutEtcdFiles() throws {
        try FileManager.default.removeItem(atPath: tmp + "/member/snap/db")
        XCTAssertFalse(EtcdImport.needed(dataDir: tmp + "/absent"))
        XCTAssertFalse(EtcdImport.needed(dataDir: tmp), "no bbolt db")
    }

    func testFailedImportLeavesNoHalfState() throws {
        // A WAL whose middle is corrupt: the import fails cleanly and leaves no etcd-swift dir.
        let file = tmp + "/member/wal/" + (try FileManager.default.contentsOfDirectory(atPath: tmp + "/member/wal").sorted().last!)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[200] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try EtcdImport.run(dataDir: tmp))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/member/etcd-swift"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/member/etcd-swift.tmp"))
    }

    /// etcd keys members by their hex id as a string ("members/<hex>" is v2; the v3 bucket uses hex).
    private func memberKey(_ tx: ReadTx, _ id: UInt64) throws -> [UInt8]? {
        try tx.get(.members, Array(String(id, radix: 16).utf8))
    }
}
