import EtcdProto
import Foundation
import Logging
import XCTest

@testable import Server

/// Leases through the member: grant, attach on put, revoke deleting every key in one revision,
/// and leases surviving a restart.
final class LeaseApplyTests: XCTestCase {
    private var dir = ""

    override func setUp() { dir = NSTemporaryDirectory() + "lease-apply-\(UUID().uuidString)" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func makeNode() throws -> ServerNode {
        var options = ServerOptions()
        options.dataDir = dir
        let node = try ServerNode(options: options, logger: Logger(label: "test"))
        node.start()
        return node
    }

    private func put(_ node: ServerNode, _ key: String, lease: Int64) async throws -> Int64 {
        var r = Etcdserverpb_PutRequest()
        r.key = Array(key.utf8)
        r.value = Array("v".utf8)
        r.lease = lease
        return try await node.put(r).header?.revision ?? 0
    }

    func testRevokeDeletesAttachedKeysInOneRevision() async throws {
        let node = try makeNode()
        defer { node.stop() }
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.ttl = 1
        let granted = try await node.leaseGrant(grant)
        XCTAssertGreaterThan(granted.id, 0, "a lease ID is chosen when the client gives none")
        XCTAssertEqual(granted.ttl, 2, "TTLs are raised to etcd's minimum (1.5 election timeouts, rounded up)")
        _ = try await put(node, "a", lease: granted.id)
        let last = try await put(node, "b", lease: granted.id)
        var ttl = Etcdserverpb_LeaseTimeToLiveRequest()
        ttl.id = granted.id
        ttl.keys = true
        let attached = try await node.leaseTimeToLive(ttl).keys
        XCTAssertEqual(attached, [Array("a".utf8), Array("b".utf8)])

        var revoke = Etcdserverpb_LeaseRevokeRequest()
        revoke.id = granted.id
        let revoked = try await node.leaseRevoke(revoke)
        XCTAssertEqual(revoked.header?.revision, last + 1, "both keys go in one revision")
        var range = Etcdserverpb_RangeRequest()
        range.key = Array("a".utf8)
        range.rangeEnd = Array("c".utf8)
        let left = try await node.range(range)
        XCTAssertTrue(left.kvs.isEmpty)
        let gone = try await node.leaseTimeToLive(ttl).ttl
        XCTAssertEqual(gone, -1)
        do {
            _ = try await node.leaseRevoke(revoke)
            XCTFail("revoking twice must fail")
        } catch {
            XCTAssertEqual(error, .leaseNotFound)
        }
    }

    func testDuplicateGrantFails() async throws {
        let node = try makeNode()
        defer { node.stop() }
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.id = 77
        grant.ttl = 30
        _ = try await node.leaseGrant(grant)
        do {
            _ = try await node.leaseGrant(grant)
            XCTFail("granting an existing ID must fail")
        } catch {
            XCTAssertEqual(error, .leaseExists)
        }
    }

    func testLeaseAndItsKeysSurviveRestart() async throws {
        var node: ServerNode? = try makeNode()
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.id = 5
        grant.ttl = 60
        _ = try await node!.leaseGrant(grant)
        _ = try await put(node!, "kept", lease: 5)
        node!.stop()
        node = nil

        let reopened = try makeNode()
        defer { reopened.stop() }
        var ttl = Etcdserverpb_LeaseTimeToLiveRequest()
        ttl.id = 5
        ttl.keys = true
        let answer = try await reopened.leaseTimeToLive(ttl)
        XCTAssertEqual(answer.grantedTtl, 60)
        XCTAssertEqual(answer.keys, [Array("kept".utf8)], "restored keys are attached to their lease again")
        XCTAssertGreaterThan(answer.ttl, 55, "a restarted leader refreshes remaining TTLs")
    }
}
