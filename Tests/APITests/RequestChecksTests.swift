import EtcdProto
import Server
import XCTest

@testable import API

/// The request checks etcd's v3rpc layer makes, with the same winners when several apply.
final class RequestChecksTests: XCTestCase {
    private func put(_ key: String) -> Etcdserverpb_RequestOp {
        var p = Etcdserverpb_PutRequest()
        p.key = Array(key.utf8)
        var op = Etcdserverpb_RequestOp()
        op.request = .requestPut(p)
        return op
    }

    private func delete(_ key: String, _ end: String = "") -> Etcdserverpb_RequestOp {
        var d = Etcdserverpb_DeleteRangeRequest()
        d.key = Array(key.utf8)
        d.rangeEnd = Array(end.utf8)
        var op = Etcdserverpb_RequestOp()
        op.request = .requestDeleteRange(d)
        return op
    }

    private func txn(success: [Etcdserverpb_RequestOp], failure: [Etcdserverpb_RequestOp] = []) -> Etcdserverpb_TxnRequest {
        var t = Etcdserverpb_TxnRequest()
        t.success = success
        t.failure = failure
        return t
    }

    private func check(_ t: Etcdserverpb_TxnRequest, maxOps: Int = 128) -> ServerError? {
        do { try RequestChecks.check(t, maxTxnOps: maxOps); return nil } catch { return error }
    }

    func testEmptyKeyAndIgnoreFlags() {
        var p = Etcdserverpb_PutRequest()
        XCTAssertThrowsError(try RequestChecks.check(p)) { XCTAssertEqual($0 as? ServerError, .emptyKey) }
        p.key = [1]
        p.ignoreValue = true
        p.value = [2]
        XCTAssertThrowsError(try RequestChecks.check(p)) { XCTAssertEqual($0 as? ServerError, .valueProvided) }
        p.ignoreValue = false
        p.ignoreLease = true
        p.lease = 5
        XCTAssertThrowsError(try RequestChecks.check(p)) { XCTAssertEqual($0 as? ServerError, .leaseProvided) }
    }

    func testTooManyOps() {
        let t = txn(success: (0..<129).map { put("k\($0)") })
        XCTAssertEqual(check(t), .tooManyOps)
        XCTAssertNil(check(txn(success: (0..<128).map { put("k\($0)") })))
    }

    func testDuplicatePutsAndPutInsideDeletedRange() {
        XCTAssertEqual(check(txn(success: [put("a"), put("a")])), .duplicateKey)
        XCTAssertEqual(check(txn(success: [delete("a", "c"), put("b")])), .duplicateKey)
        XCTAssertEqual(check(txn(success: [delete("a"), put("a")])), .duplicateKey)
        XCTAssertNil(check(txn(success: [delete("a", "c"), put("c")])), "the range end is exclusive")
        XCTAssertNil(check(txn(success: [put("a")], failure: [put("a")])), "branches are exclusive")
    }

    func testNestedTxnBranchesMayPutTheSameKey() {
        var nested = Etcdserverpb_RequestOp()
        nested.request = .requestTxn(txn(success: [put("a")], failure: [put("a")]))
        XCTAssertNil(check(txn(success: [nested])))
        XCTAssertEqual(check(txn(success: [nested, put("a")])), .duplicateKey)
    }

    func testEmptyOpIsKeyNotFound() {
        XCTAssertEqual(check(txn(success: [Etcdserverpb_RequestOp()])), .keyNotFound)
    }

    func testStatusTableMatchesEtcdStrings() {
        XCTAssertEqual(ServerError.compacted.grpcStatus.message, "etcdserver: mvcc: required revision has been compacted")
        XCTAssertEqual(ServerError.compacted.grpcStatus.code, .outOfRange)
        XCTAssertEqual(ServerError.emptyKey.grpcStatus.code, .invalidArgument)
        XCTAssertEqual(ServerError.leaseNotFound.grpcStatus.code, .notFound)
    }
}
