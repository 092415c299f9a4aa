import GRPC
import NIOCore
import Synchronization
import XCTest

/// Collects a whole HTTP/1.1 request (chunked body included) and answers with it as the body, so a
/// test sees exactly what the bridge made of an HTTP/2 stream.
private final class EchoHTTP1Responder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var request = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        request += chunk.readString(length: chunk.readableBytes) ?? ""
        guard request.hasSuffix("0\r\n\r\n") else { return }
        let response = "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: \(request.utf8.count)\r\n"
            + "Connection: close\r\n\r\n\(request)"
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }
}

final class PlainStreamTests: XCTestCase {
    private func server(plain: Bool) async throws -> TestServer {
        var configuration = GRPCServerConfiguration()
        if plain {
            configuration.plainHTTP = { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHTTP1Responder())
                }
            }
        }
        return try await TestServer.start(configuration: configuration)
    }

    private func post(_ raw: RawConnection, body: String) async throws {
        try await raw.send(Frame.preface + Frame(type: Frame.settings, flags: 0, streamID: 0, payload: []).encoded)
        try await raw.send(Frame.requestHeaders(path: "/v3/kv/range", streamID: 1, contentType: "application/json").encoded)
        try await raw.send(Frame(type: Frame.data, flags: Frame.endStream, streamID: 1, payload: Array(body.utf8)).encoded)
    }

    func testNonGRPCStreamIsServedAsHTTP1() async throws {
        let server = try await server(plain: true)
        let raw = try await RawConnection.connect(port: server.port)
        try await post(raw, body: #"{"key":"Zm9v"}"#)
        let ended = await raw.waitFor { frames in
            frames.contains { $0.type == Frame.data && $0.streamID == 1 && $0.flags & Frame.endStream != 0 }
        }
        XCTAssertTrue(ended, "the response ends the stream")
        let frames = Frame.parse(raw.bytes)
        XCTAssertTrue(frames.contains { $0.type == Frame.headers && $0.streamID == 1 })
        XCTAssertFalse(frames.contains { $0.type == Frame.rstStream })
        let echoed = String(decoding: frames.filter { $0.type == Frame.data && $0.streamID == 1 }.flatMap(\.payload), as: UTF8.self)
        XCTAssertTrue(echoed.hasPrefix("POST /v3/kv/range HTTP/1.1\r\n"), echoed)
        XCTAssertTrue(echoed.lowercased().contains("host: localhost\r\n"), echoed)
        XCTAssertTrue(echoed.lowercased().contains("content-type: application/json\r\n"), echoed)
        XCTAssertTrue(echoed.contains(#"{"key":"Zm9v"}"#), echoed)
        await raw.close()
        try await server.assertHealthy()
        await server.stop()
    }

    func testWithoutPlainHandlerNonGRPCStreamGets415() async throws {
        let server = try await server(plain: false)
        let raw = try await RawConnection.connect(port: server.port)
        try await post(raw, body: "{}")
        let answered = await raw.waitFor { frames in
            frames.contains { $0.type == Frame.headers && $0.streamID == 1 && $0.flags & Frame.endStream != 0 }
        }
        XCTAssertTrue(answered)
        XCTAssertFalse(Frame.parse(raw.bytes).contains { $0.type == Frame.data && $0.streamID == 1 })
        await raw.close()
        await server.stop()
    }

    /// The client resets the stream while the HTTP side still waits for the body: nothing is left behind
    /// and the connection keeps serving gRPC.
    func testResetStreamDropsTheBridge() async throws {
        let server = try await server(plain: true)
        let raw = try await RawConnection.connect(port: server.port)
        try await raw.send(Frame.preface + Frame(type: Frame.settings, flags: 0, streamID: 0, payload: []).encoded)
        try await raw.send(Frame.requestHeaders(path: "/v3/watch", streamID: 1, contentType: "application/json").encoded)
        try await raw.send(Frame(type: Frame.rstStream, flags: 0, streamID: 1, payload: [0, 0, 0, 8]).encoded)
        try await raw.send(Frame.requestHeaders(path: "/x", streamID: 3, contentType: "text/plain").encoded)
        try await raw.send(Frame(type: Frame.data, flags: Frame.endStream, streamID: 3, payload: Array("hi".utf8)).encoded)
        let served = await raw.waitFor { frames in
            frames.contains { $0.type == Frame.data && $0.streamID == 3 && $0.flags & Frame.endStream != 0 }
        }
        XCTAssertTrue(served, "a later stream on the same connection is served")
        await raw.close()
        try await server.assertHealthy()
        await server.stop()
    }
}
