import GRPC
import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest
@testable import Gateway

/// The upgrader on NIO's HTTP/1.1 pipeline, fed raw bytes.
final class WebSocketUpgradeTests: XCTestCase {
    private func run(_ request: String) throws -> String {
        let channel = EmbeddedChannel()
        let gateway = Gateway(router: GRPCRouter(), maxMessageBytes: 1 << 16)
        let upgrader = gateway.webSocketUpgrader { $0.eventLoop.makeSucceededVoidFuture() }
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }), withErrorHandling: true)
        // A declined upgrade surfaces as an error event (the request goes on to the HTTP handlers).
        try? channel.writeInbound(ByteBuffer(string: request))
        return channel.runAndFinish()
    }

    func testUpgradeNeedsTheConnectionToken() throws {
        let head = "GET /v3/watch HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        let upgraded = try run(head + "Connection: keep-alive, Upgrade\r\n\r\n")
        XCTAssertTrue(upgraded.hasPrefix("HTTP/1.1 101"), upgraded)
        // Without it llhttp parses the next request too; NIO used to hand its parts to the WebSocket
        // decoder, which trapped (found by fuzzing). Now no upgrade happens and nothing traps.
        XCTAssertFalse(try run(head + "\r\nOPTIONS / HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 101"))
    }
}

extension EmbeddedChannel {
    /// Runs what is queued on the loop, then returns everything written as text and closes.
    func runAndFinish() -> String {
        embeddedEventLoop.run()
        var out = ""
        while let d = try? readOutbound(as: IOData.self) {
            if case .byteBuffer(let b) = d { out += String(buffer: b) }
        }
        while let b = try? readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
        _ = try? finish(acceptAlreadyClosed: true)
        return out
    }
}
