import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOWebSocket
import XCTest

@testable import Gateway

/// grpc-websocket-proxy's framing: response lines become text messages, the request carries the token.
final class WebSocketGatewayTests: XCTestCase {
    private func messages(_ channel: EmbeddedChannel) throws -> [(WebSocketOpcode, String)] {
        var out: [(WebSocketOpcode, String)] = []
        while let frame = try channel.readOutbound(as: WebSocketFrame.self) {
            var data = frame.data
            out.append((frame.opcode, frame.opcode == .text ? data.readString(length: data.readableBytes)! : ""))
        }
        return out
    }

    func testResponseLinesBecomeMessagesAcrossChunks() throws {
        let channel = EmbeddedChannel(handler: ResponseLinesToMessages())
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
        try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "{\"a\":1}\n{\"b\":"))))
        XCTAssertEqual(try messages(channel).map(\.1), [#"{"a":1}"#], "the head is dropped; half a line waits")
        try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "2}\n\n{\"c\":3}"))))
        XCTAssertEqual(try messages(channel).map(\.1), [#"{"b":2}"#], "empty lines are skipped")
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        let last = try messages(channel)
        XCTAssertEqual(last.map(\.1), [#"{"c":3}"#, ""])
        XCTAssertEqual(last.last?.0, .connectionClose, "the end of the response closes the WebSocket")
        _ = try channel.finish()
    }

    func testRequestIsAPostWithTheBearerToken() {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v3/watch")
        head.headers.add(name: "Sec-WebSocket-Protocol", value: "Bearer, abc.def")
        head.headers.add(name: "Origin", value: "http://example")
        head.headers.add(name: "Cookie", value: "x=y")
        let request = Gateway.request(from: head)
        XCTAssertEqual(request.method, .POST)
        XCTAssertEqual(request.uri, "/v3/watch")
        XCTAssertEqual(request.headers["Authorization"], ["Bearer abc.def"])
        XCTAssertEqual(request.headers["Origin"], ["http://example"])
        XCTAssertEqual(request.headers["Cookie"], [], "only Origin and Referer are forwarded")
    }
}
