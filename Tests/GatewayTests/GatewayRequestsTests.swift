import GRPC
import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest
@testable import Gateway

/// The client port's HTTP/1.1 routing: gateway paths to the gateway, the rest to the caller.
final class GatewayRequestsTests: XCTestCase {
    /// Records what reaches `other` and answers it with 204.
    private final class Recorder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let requests: GatewayRequests
        var others: [String] = []
        init(gateway: Gateway?) { requests = GatewayRequests(gateway: gateway) }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            requests.read(unwrapInboundIn(data), context: context) { head in
                others.append("\(head.method) \(head.uri)")
                var headers = HTTPHeaders()
                headers.add(name: "Content-Length", value: "0")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .noContent, headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }

    private func serve(_ request: String, gateway: Gateway?) throws -> (others: [String], output: String) {
        let channel = EmbeddedChannel()
        let recorder = Recorder(gateway: gateway)
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
        try channel.pipeline.syncOperations.addHandler(recorder)
        // The router has no methods: the gateway answers "unimplemented" on the loop, with no task.
        try channel.writeInbound(ByteBuffer(string: request))
        return (recorder.others, channel.runAndFinish())
    }

    func testRequestsOutsideTheGatewayReachTheCallerOnceEnded() throws {
        let gateway = Gateway(router: GRPCRouter(), maxMessageBytes: 1 << 16)
        let r = try serve("GET /health?serializable=true HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                          gateway: gateway)
        XCTAssertEqual(r.others, ["GET /health?serializable=true", "OPTIONS /v3/kv/put"], "OPTIONS is not a gateway call, as in etcd")
        XCTAssertEqual(r.output.components(separatedBy: "HTTP/1.1 204").count - 1, 2, r.output)
    }

    func testGatewayPathsGoToTheGatewayNotTheCaller() throws {
        let gateway = Gateway(router: GRPCRouter(), maxMessageBytes: 1 << 16)
        let json = #"{"key":"Zm9v"}"#
        let r = try serve("POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)", gateway: gateway)
        XCTAssertEqual(r.others, [])
        XCTAssertTrue(r.output.hasPrefix("HTTP/1.1 "), r.output)
        XCTAssertFalse(r.output.hasPrefix("HTTP/1.1 204"), r.output)
    }

    func testWithoutAGatewayEveryRequestReachesTheCaller() throws {
        let r = try serve("POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", gateway: nil)
        XCTAssertEqual(r.others, ["POST /v3/kv/range"])
    }

    func testPathDropsTheQuery() {
        XCTAssertEqual(GatewayRequests.path("/v3/kv/range?x=1&y=2"), "/v3/kv/range")
        XCTAssertEqual(GatewayRequests.path("/health"), "/health")
        XCTAssertEqual(GatewayRequests.path("?"), "")
    }
}
