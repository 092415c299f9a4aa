import EtcdProto
import Foundation
import Logging
import Raft
import Storage
import XCTest

@testable import Server

/// What a member does with a snapshot's database before raft sees the message: etcd's bbolt is
/// converted into a backend copy; junk, or etcd's format with data that is not the v2 store, is
/// dropped (the file removed) and the member goes on serving.
final class SnapshotReceiveTests: XCTestCase {
    private var dir = ""

    override func setUp() {
        dir = NSTemporaryDirectory() + "snapshot-receive-\(UUID().uuidString)"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func makeNode() throws -> ServerNode { try LoneMember.start(dir: dir) }

    /// A MsgSnap from a member this cluster does not have, at term 1: raft ignores it, so only
    /// the check before raft is exercised.
    private func message(index: UInt64, data: [UInt8]) -> Message {
        var m = Message(type: .snap, to: 1, from: 0x99, term: 1)
        m.snapshot = Snapshot(data: data, metadata: SnapshotMetadata(confState: ConfState(voters: [0x99]), index: index, term: 1))
        return m
    }

    private func waitUntil(_ what: String, _ cond: () -> Bool) async throws {
        for _ in 0..<200 where !cond() { try await Task.sleep(for: .milliseconds(20)) }
        XCTAssertTrue(cond(), what)
    }

    private func putKey(_ node: ServerNode, _ key: String) async throws {
        var r = Etcdserverpb_PutRequest()
        r.key = Array(key.utf8)
        r.value = [1]
        _ = try await node.put(r)
    }

    func testJunkIsDroppedAndTheMemberGoesOn() async throws {
        let node = try makeNode()
        defer { node.stop() }
        try await putKey(node, "a")
        let path = Applier.snapshotDBPath(snapDir: node.storage.snapDir, index: 100)
        FileManager.default.createFile(atPath: path, contents: Data((0..<40000).map { _ in UInt8.random(in: 0...255) }))
        node.receivedSnapshot(message(index: 100, data: []), dbPath: path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        try await putKey(node, "b")
    }

    func testBboltWithDataThatIsNotTheV2StoreIsDropped() async throws {
        let node = try makeNode()
        defer { node.stop() }
        try await putKey(node, "a")
        let path = Applier.snapshotDBPath(snapDir: node.storage.snapDir, index: 100)
        try node.storage.backend.exportBbolt(to: path)
        node.receivedSnapshot(message(index: 100, data: Array("{\"not\":\"a store\"}".utf8)), dbPath: path)
        try await waitUntil("the db is removed") { !FileManager.default.fileExists(atPath: path) }
        try await putKey(node, "b")
    }

    func testEtcdsFormatBecomesABackendCopy() async throws {
        let node = try makeNode()
        defer { node.stop() }
        try await putKey(node, "a")
        let path = Applier.snapshotDBPath(snapDir: node.storage.snapDir, index: 100)
        try node.storage.backend.exportBbolt(to: path)
        XCTAssertFalse(Backend.isValidCopy(at: path))
        node.receivedSnapshot(message(index: 100, data: []), dbPath: path)
        try await waitUntil("the bbolt db is converted") { Backend.isValidCopy(at: path) }
        try await putKey(node, "b")
    }

    /// What a crash leaves half made in the snap dir goes at start; the backend, raft snapshots and
    /// saved snapshot databases stay.
    func testStartRemovesHalfMadeSnapshotFiles() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let kept = ["db", "db-lock", "000000000000000a-0000000000000064.snap", "0000000000000064.snap.db"]
        let stale = ["etcd-swift-export-7.tmp", "send-2-99.snap.db.tmp", "0000000000000064.snap.db.lmdb", "tmpAb12Cd"]
        for name in kept + stale { XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data([1]))) }
        ServerNode.removeStaleExports(in: dir)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), kept.sorted())
    }
}
