import Foundation
import NIOCore
import NIOPosix
import XCTest
@testable import Transport

/// The peer port's /members/promote/<id> and /members/hashkv, with the client calls that use them.
final class MemberRoutesTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!

    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 1) }
    override func tearDown() { try? group.syncShutdownGracefully() }

    func testRouteParsing() {
        XCTAssertEqual(PeerRoute(path: "/members/promote/123"), .promote("123"))
        XCTAssertEqual(PeerRoute(path: "/members/promote/"), .promote(""))
        XCTAssertEqual(PeerRoute(path: PeerRoute.path(of: "/members/hashkv?x")), .hashKV)
        XCTAssertEqual(PeerRoute(path: "/members/promote"), .notFound)
        XCTAssertEqual(PeerRoute(path: "/members/hashkv/1"), .notFound)
        XCTAssertEqual(PeerRoute.promoteID("18446744073709551615"), UInt64.max)
        XCTAssertEqual(PeerRoute.promoteID("0042"), 42)
        // Go's ParseUint(s, 10, 64) refuses all of these.
        for bad in ["", "+5", "-1", "0x10", "12a", " 1", "18446744073709551616"] {
            XCTAssertNil(PeerRoute.promoteID(bad), bad)
        }
    }

    func testPromoteRouteAnswersAsEtcd() async throws {
        // Ports no other transport test uses; the listener is closed before the test returns.
        let node = try await Node.start(id: 2, port: 22171, group: group)
        let loop = group.next()
        func post(_ path: String) async throws -> PeerCalls.Answer {
            try await PeerCalls.post(url: node.url, path: path, tls: nil, on: loop, timeout: .seconds(3))
        }
        var r = try await post("/members/promote/12345")
        XCTAssertEqual(r, PeerCalls.Answer(status: 200, body: Array("[]\n".utf8)))
        XCTAssertEqual(node.handler.state.withLock { $0.promoted }, [12345])

        node.handler.state.withLock { $0.promoteAnswer = .error(412, "membership: can only promote a learner member") }
        r = try await post("/members/promote/7")
        XCTAssertEqual(r.status, 412)
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "membership: can only promote a learner member\n")

        // An id Go cannot parse never reaches the server.
        r = try await post("/members/promote/abc")
        XCTAssertEqual(r.status, 404)
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "member abc not found in cluster\n")
        XCTAssertEqual(node.handler.state.withLock { $0.promoted }, [12345, 7])

        r = try await PeerCalls.get(url: node.url, path: "/members/promote/1", json: [], tls: nil, on: loop, timeout: .seconds(3))
        XCTAssertEqual(r.status, 405)
        await node.transport.stop()
    }

    func testHashKVRouteHandsTheBodyOver() async throws {
        let node = try await Node.start(id: 3, port: 22172, group: group)
        let loop = group.next()
        let r = try await PeerCalls.get(url: node.url, path: "/members/hashkv", json: Array(#"{"revision":5}"#.utf8),
                                        tls: nil, on: loop, timeout: .seconds(3))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), #"{"header":{"revision":1}}"#)
        XCTAssertEqual(node.handler.state.withLock { $0.hashKVRequests }, [Array(#"{"revision":5}"#.utf8)])
        let wrong = try await PeerCalls.post(url: node.url, path: "/members/hashkv", tls: nil, on: loop, timeout: .seconds(3))
        XCTAssertEqual(wrong.status, 405)
        // Nothing listens there: the call fails rather than hanging.
        do {
            _ = try await PeerCalls.post(url: "http://127.0.0.1:22179", path: "/members/promote/1", tls: nil, on: loop, timeout: .seconds(1))
            XCTFail("expected a connection failure")
        } catch {}
        await node.transport.stop()
    }
}
