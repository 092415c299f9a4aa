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
        // The db is newer than the .snap here, so its own members bucket stands.
        XCTAssertEqual(summary.membersFromSnap, 0)
        XCTAssertNotNil(try memberKey(tx, etcdLog.nodeID))
    }

    /// `etcdctl snapshot restore` leaves the old cluster's members in the db: the import takes the
    /// new ones from the `.snap`'s v2 store.
    func testRestoredDirTakesMembersFromTheSnap() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/etcdctl"), "needs etcd 3.4's etcdctl")
        let restore = Process()
        restore.executableURL = URL(fileURLWithPath: "/usr/bin/etcdctl")
        restore.arguments = ["snapshot", "restore", tmp + "/member/snap/db", "--skip-hash-check", "--data-dir", tmp + "/r",
                             "--name", "r1", "--initial-cluster", "r1=http://127.0.0.1:1", "--initial-advertise-peer-urls",
                             "http://127.0.0.1:1"]
        restore.standardError = FileHandle.nullDevice
        restore.standardOutput = FileHandle.nullDevice
        try restore.run()
        restore.waitUntilExit()
        XCTAssertEqual(restore.terminationStatus, 0)
        let summary = try EtcdImport.run(dataDir: tmp + "/r")
        XCTAssertEqual(summary.membersFromSnap, 1)
        XCTAssertEqual(summary.snapshot, EtcdSnapshotMark(index: 1, term: 1))
        let backend = try Backend(path: tmp + "/r/member/etcd-swift/snap/db")
        let tx = try backend.read()
        defer { tx.end() }
        var members: [String] = []
        try tx.forEach(.members) { _, v in
            members.append(String(decoding: v, as: UTF8.self))
            return true
        }
        XCTAssertEqual(members.count, 1)
        XCTAssertTrue(members[0].contains("\"peerURLs\":[\"http://127.0.0.1:1\"]"), members[0])
        XCTAssertEqual(try memberKey(tx, summary.nodeID).map { String(decoding: $0, as: UTF8.self) }, members[0])
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

    /// etcd keys the `members` bucket by the member's id in hex.
    private func memberKey(_ tx: ReadTx, _ id: UInt64) throws -> [UInt8]? {
        try tx.get(.members, Array(String(id, radix: 16).utf8))
    }
}
