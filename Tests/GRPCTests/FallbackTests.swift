import GRPC
import NIOCore
import XCTest

/// Answers any bytes with a fixed HTTP/1.1 response, standing in for the API layer's NIOHTTP1 handlers.
private final class FixedHTTP1Responder: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var request = unwrapInboundIn(data)
        let line = request.readString(length: request.readableBytes)?.split(separator: "\r\n").first ?? ""
        let body = "{\"health\":\"true\",\"request\":\"\(line)\"}"
        let response = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }
}

final class FallbackTests: XCTestCase {
    func testHTTP1GetReachesTheFallbackOnTheGRPCPort() async throws {
        let server = try await TestServer.start(http1Fallback: { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(FixedHTTP1Responder())
            }
        })
        let raw = try await RawConnection.connect(port: server.port)
        try await raw.send(Array("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        let closed = await raw.waitClosed()
        XCTAssertTrue(closed)
        let response = String(decoding: raw.bytes, as: UTF8.self)
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 200 OK\r\n"), response)
        XCTAssertTrue(response.contains("GET /health HTTP/1.1"), response)
        // gRPC on the same port, before and after.
        try await server.assertHealthy()
        await server.stop()
    }

    func testPrefaceArrivingByteByByteStillSelectsGRPC() async throws {
        let server = try await TestServer.start(http1Fallback: { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(FixedHTTP1Responder())
            }
        })
        let raw = try await RawConnection.connect(port: server.port)
        for b in Frame.preface { try await raw.send([b]) }
        try await raw.send(Frame(type: Frame.settings, flags: 0, streamID: 0, payload: []).encoded)
        let gotSettings = await raw.waitFor { frames in frames.contains { $0.type == Frame.settings } }
        XCTAssertTrue(gotSettings)
        await raw.close()
        await server.stop()
    }
}
