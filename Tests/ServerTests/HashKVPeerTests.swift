import EtcdProto
import Foundation
import Logging
import Transport
import XCTest

@testable import Server

/// /members/hashkv as etcd's hashKVHandler and getPeerHashKVHTTP speak it, and the CORRUPT alarm's
/// effect on writes.
final class HashKVPeerTests: XCTestCase {
    func testRequestJSONAsGoReadsIt() {
        func rev(_ s: String) -> Int64? { ServerNode.hashKVRequestRevision(Array(s.utf8)) }
        XCTAssertEqual(rev(#"{"revision":12}"#), 12)
        XCTAssertEqual(rev("{}"), 0)
        XCTAssertEqual(rev("null"), 0)
        XCTAssertEqual(rev(#"{"revision":7,"other":"x"}"#), 7)
        for bad in ["", "[1]", #"{"revision":"5"}"#, #"{"revision":1.5}"#, "{", "\u{0}"] {
            XCTAssertNil(rev(bad), bad)
        }
    }

    func testResponseJSONLeavesZeroFieldsOut() {
        func json(_ h: ServerNode.PeerHash) -> String { String(decoding: ServerNode.hashKVResponseJSON(h), as: UTF8.self) }
        XCTAssertEqual(json(.init(revision: 11, hash: 3_913_246_010, compactRevision: 4)),
                       #"{"header":{"revision":11},"hash":3913246010,"compact_revision":4}"#)
        XCTAssertEqual(json(.init(revision: 1, hash: 0, compactRevision: 0)), #"{"header":{"revision":1}}"#)
    }

    func testAnswersAsTheAskingMemberReadsThem() {
        func read(_ status: Int, _ body: String) -> Result<ServerNode.PeerHash, ServerNode.PeerHashError> {
            ServerNode.peerHash(PeerCalls.Answer(status: status, body: Array(body.utf8)))
        }
        // Real etcd 3.4's answer: only the header's revision is set.
        XCTAssertEqual(read(200, #"{"header":{"revision":11},"hash":3913246010,"compact_revision":4}"#),
                       .success(.init(revision: 11, hash: 3_913_246_010, compactRevision: 4)))
        XCTAssertEqual(read(200, #"{"header":{}}"#), .success(.init(revision: 0, hash: 0, compactRevision: 0)))
        XCTAssertEqual(read(400, "mvcc: required revision has been compacted\n"), .failure(.compacted))
        XCTAssertEqual(read(400, "mvcc: required revision is a future revision\n"), .failure(.futureRevision))
        XCTAssertEqual(read(500, "boom"), .failure(.other("unknown error: boom")))
        XCTAssertEqual(read(200, #"{"hash":"x"}"#), .failure(.other("invalid HashKVResponse")))
        XCTAssertEqual(read(200, #"{"hash":99999999999}"#), .failure(.other("invalid HashKVResponse")))
        XCTAssertEqual(read(200, "garbage"), .failure(.other("invalid HashKVResponse")))
    }

    func testLoneMemberServesItsHashAndRefusesWritesWhenCorrupt() async throws {
        let dir = NSTemporaryDirectory() + "hashkv-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try LoneMember.start(dir: dir)
        defer { node.stop() }
        try await LoneMember.waitLeader(node)
        var put = Etcdserverpb_PutRequest()
        put.key = Array("k".utf8)
        put.value = Array("v".utf8)
        _ = try await node.put(put)
        let expected = try node.hashKV(revision: 0)
        var answer = node.answerHashKV(requestJSON: Array("{}".utf8))
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(ServerNode.peerHash(PeerCalls.Answer(status: 200, body: answer.body)),
                       .success(.init(revision: expected.header?.revision ?? -1, hash: expected.hash, compactRevision: expected.compactRevision)))
        answer = node.answerHashKV(requestJSON: Array(#"{"revision":1000}"#.utf8))
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(String(decoding: answer.body, as: UTF8.self), "mvcc: required revision is a future revision\n")
        XCTAssertEqual(node.answerHashKV(requestJSON: Array("nope".utf8)).status, 400)

        // No peers: the initial check passes; with CORRUPT raised writes fail as in etcd.
        try await node.checkInitialHashKV()
        var alarm = Etcdserverpb_AlarmRequest()
        alarm.action = .activate
        alarm.alarm = .corrupt
        _ = try await node.alarm(alarm)
        do {
            _ = try await node.put(put)
            XCTFail("a put succeeded with CORRUPT raised")
        } catch {
            XCTAssertEqual(error as? ServerError, .corrupt)
        }
        alarm.action = .deactivate
        _ = try await node.alarm(alarm)
        _ = try await node.put(put)
    }
}
