import EtcdProto
import Foundation
import Logging
import XCTest

@testable import Server

/// A member on a temporary data directory, driven through the same calls the API layer makes.
final class ServerNodeTests: XCTestCase {
    private var dir = ""

    override func setUp() {
        dir = NSTemporaryDirectory() + "server-node-\(UUID().uuidString)"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func makeNode() throws -> ServerNode { try LoneMember.start(dir: dir) }

    private func put(_ node: ServerNode, _ key: String, _ value: String, prevKV: Bool = false) async throws
        -> Etcdserverpb_PutResponse
    {
        var r = Etcdserverpb_PutRequest()
        r.key = Array(key.utf8)
        r.value = Array(value.utf8)
        r.prevKv = prevKV
        return try await node.put(r)
    }

    private func get(_ node: ServerNode, _ key: String, end: String = "", revision: Int64 = 0) async throws
        -> Etcdserverpb_RangeResponse
    {
        var r = Etcdserverpb_RangeRequest()
        r.key = Array(key.utf8)
        r.rangeEnd = Array(end.utf8)
        r.revision = revision
        return try await node.range(r)
    }

    func testRevisionArithmeticMatchesEtcd() async throws {
        let node = try makeNode()
        defer { node.stop() }
        let first = try await put(node, "a", "1")
        XCTAssertEqual(first.header?.revision, 2, "a fresh store is at revision 1; the first put makes 2")
        let second = try await put(node, "a", "2", prevKV: true)
        XCTAssertEqual(second.header?.revision, 3)
        XCTAssertEqual(second.prevKv?.value, Array("1".utf8))
        let kv = try await get(node, "a").kvs.first
        XCTAssertEqual(kv?.createRevision, 2)
        XCTAssertEqual(kv?.modRevision, 3)
        XCTAssertEqual(kv?.version, 2)

        var delete = Etcdserverpb_DeleteRangeRequest()
        delete.key = Array("a".utf8)
        let deleted = try await node.deleteRange(delete)
        XCTAssertEqual(deleted.deleted, 1)
        XCTAssertEqual(deleted.header?.revision, 4)
        let nothing = try await node.deleteRange(delete)
        XCTAssertEqual(nothing.deleted, 0)
        XCTAssertEqual(nothing.header?.revision, 4, "deleting nothing does not bump the revision")

        _ = try await put(node, "a", "again")
        let reborn = try await get(node, "a").kvs.first
        XCTAssertEqual(reborn?.version, 1)
        XCTAssertEqual(reborn?.createRevision, 5)
    }

    func testTxnComparesAndNestedOpsShareOneRevision() async throws {
        let node = try makeNode()
        defer { node.stop() }
        _ = try await put(node, "k", "v")
        var compare = Etcdserverpb_Compare()
        compare.key = Array("k".utf8)
        compare.target = .value
        compare.result = .equal
        compare.targetUnion = .value(Array("v".utf8))
        var put1 = Etcdserverpb_PutRequest()
        put1.key = Array("x".utf8)
        put1.value = Array("1".utf8)
        var put2 = put1
        put2.key = Array("y".utf8)
        var nested = Etcdserverpb_TxnRequest()
        var nestedOp = Etcdserverpb_RequestOp()
        nestedOp.request = .requestPut(put2)
        nested.success = [nestedOp]
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [compare]
        var op1 = Etcdserverpb_RequestOp()
        op1.request = .requestPut(put1)
        var op2 = Etcdserverpb_RequestOp()
        op2.request = .requestTxn(nested)
        txn.success = [op1, op2]
        let response = try await node.txn(txn)
        XCTAssertTrue(response.succeeded)
        XCTAssertEqual(response.header?.revision, 3)
        let x = try await get(node, "x").kvs.first
        let y = try await get(node, "y").kvs.first
        XCTAssertEqual(x?.modRevision, 3)
        XCTAssertEqual(y?.modRevision, 3, "every op of one txn is one revision")

        compare.targetUnion = .value(Array("other".utf8))
        txn.compare = [compare]
        let failed = try await node.txn(txn)
        XCTAssertFalse(failed.succeeded)
        XCTAssertEqual(failed.header?.revision, 3, "a failed txn with no failure ops writes nothing")
    }

    func testCompactionErrors() async throws {
        let node = try makeNode()
        defer { node.stop() }
        for i in 0..<4 { _ = try await put(node, "k", "\(i)") }
        var compact = Etcdserverpb_CompactionRequest()
        compact.revision = 3
        _ = try await node.compact(compact)
        do {
            _ = try await get(node, "k", revision: 2)
            XCTFail("reading a compacted revision must fail")
        } catch {
            XCTAssertEqual(error as? ServerError, .compacted)
        }
        do {
            _ = try await get(node, "k", revision: 100)
            XCTFail("reading a future revision must fail")
        } catch {
            XCTAssertEqual(error as? ServerError, .futureRevision)
        }
        do {
            _ = try await node.compact(compact)
            XCTFail("compacting twice at one revision must fail")
        } catch {
            XCTAssertEqual(error, .compacted)
        }
    }

    func testRestartRecoversKeysRevisionAndRaftIndex() async throws {
        var node: ServerNode? = try makeNode()
        await node!.waitPublished()
        for i in 0..<20 { _ = try await put(node!, "key\(i)", "value\(i)") }
        let before = node!.status()
        node!.stop()
        node = nil

        let reopened = try makeNode()
        defer { reopened.stop() }
        await reopened.waitPublished()
        let all = try await get(reopened, "key", end: "kez")
        XCTAssertEqual(all.kvs.count, 20)
        XCTAssertEqual(all.header?.revision, 21)
        // Proposals apply in order, so once this put is answered the new term's entries are too.
        _ = try await put(reopened, "after", "restart")
        let after = reopened.status()
        XCTAssertEqual(after.raftTerm, before.raftTerm + 1, "a restarted single member campaigns in a new term")
        XCTAssertEqual(after.raftIndex, before.raftIndex + 3, "the new term's empty entry, the publish, the put")
        XCTAssertEqual(after.raftAppliedIndex, after.raftIndex)
    }

    func testLeaseThatDoesNotExistIsRefused() async throws {
        let node = try makeNode()
        defer { node.stop() }
        var r = Etcdserverpb_PutRequest()
        r.key = Array("k".utf8)
        r.lease = 42
        do {
            _ = try await node.put(r)
            XCTFail("a put naming an unknown lease must fail")
        } catch {
            XCTAssertEqual(error, .leaseNotFound)
        }
    }

    func testConcurrentPutsAreAllAppliedInOrder() async throws {
        let node = try makeNode()
        defer { node.stop() }
        let revisions = try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<200 {
                var r = Etcdserverpb_PutRequest()
                r.key = Array("c\(i)".utf8)
                r.value = Array("v".utf8)
                group.addTask { [r] in try await node.put(r).header?.revision ?? 0 }
            }
            var all: [Int64] = []
            for try await r in group { all.append(r) }
            return all
        }
        XCTAssertEqual(Set(revisions).count, 200, "each put gets its own revision")
        XCTAssertEqual(revisions.max(), 201)
    }
}

/// Member and cluster IDs as etcd derives them (values from a real etcd 3.4 run).
final class IdentityTests: XCTestCase {
    func testIDsMatchEtcd() {
        let member = Identity.memberID(peerURLs: ["http://127.0.0.1:22380"], clusterToken: "etcd-cluster")
        XCTAssertEqual(Identity.hex(member), "9e737febb6b99eee")
        XCTAssertEqual(Identity.hex(Identity.clusterID(memberIDs: [member])), "c8730d66636ff140")
    }
}

/// `--snapshot-count`: the WAL is cut back as entries are applied, and a restart still finds
/// every key.
final class WALReleaseTests: XCTestCase {
    func testSegmentsBeforeASnapshotAreReleasedAndRestartRecovers() async throws {
        let dir = NSTemporaryDirectory() + "wal-release-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = ServerOptions()
        options.dataDir = dir
        options.snapshotCount = 20
        options.walSegmentBytes = 16 * 1024
        let value = [UInt8](repeating: 7, count: 1000)
        var node: ServerNode? = try ServerNode(options: options, logger: Logger(label: "test"))
        node?.start()
        for i in 0..<300 {
            var r = Etcdserverpb_PutRequest()
            r.key = Array("key\(i)".utf8)
            r.value = value
            _ = try await node!.put(r)
        }
        node!.stop()
        node = nil
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir + "/member/wal").filter { $0.hasSuffix(".wal") }
        XCTAssertLessThan(segments.count, 10, "300 KB of entries in 16 KB segments: most were released")

        let reopened = try ServerNode(options: options, logger: Logger(label: "test"))
        reopened.start()
        defer { reopened.stop() }
        var range = Etcdserverpb_RangeRequest()
        range.key = Array("key".utf8)
        range.rangeEnd = Array("kez".utf8)
        range.countOnly = true
        let count = try await reopened.range(range)
        XCTAssertEqual(count.count, 300)
        XCTAssertEqual(count.header?.revision, 301)
    }
}
