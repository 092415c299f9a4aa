import GRPC
import NIOCore
import XCTest

/// Hostile or broken input: each case ends in an error status or a closed connection, and the server keeps
/// serving a well-behaved client afterwards.
final class BadInputTests: XCTestCase {
    func testGarbageBytesCloseTheConnection() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection.connect(port: server.port)
        var garbage: [UInt8] = []
        var x: UInt32 = 12345
        for _ in 0..<4096 {
            x = x &* 1_103_515_245 &+ 12345
            garbage.append(UInt8(truncatingIfNeeded: x >> 16))
        }
        garbage[0] = 0x16  // not 'P'
        try await raw.send(garbage)
        let closed = await raw.waitClosed()
        XCTAssertTrue(closed)
        try await server.assertHealthy()
        await server.stop()
    }

    func testSilentConnectionIsClosedAfterTheDetectionTimeout() async throws {
        var configuration = GRPCServerConfiguration()
        configuration.protocolDetectionTimeout = .milliseconds(100)
        let server = try await TestServer.start(configuration: configuration)
        let raw = try await RawConnection.connect(port: server.port)
        try await raw.send(Array("PRI * HT".utf8))  // an undecided prefix, then silence
        let closed = await raw.waitClosed()
        XCTAssertTrue(closed)
        try await server.assertHealthy()
        await server.stop()
    }

    func testWrongPrefaceClosesTheConnection() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection.connect(port: server.port)
        try await raw.send(Array("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".utf8) + [UInt8](repeating: 0, count: 32))
        let closed = await raw.waitClosed()
        XCTAssertTrue(closed)
        try await server.assertHealthy()
        await server.stop()
    }

    func testGarbageAfterPrefaceGetsGoAway() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection.connect(port: server.port)
        // A frame header announcing an unknown-size SETTINGS frame on a stream: a connection error.
        try await raw.send(Frame.preface + [0x00, 0x00, 0x05, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 1, 2, 3, 4, 5])
        let closed = await raw.waitClosed()
        XCTAssertTrue(closed)
        XCTAssertTrue(Frame.parse(raw.bytes).contains { $0.type == Frame.goaway })
        try await server.assertHealthy()
        await server.stop()
    }

    func testMalformedFramesGetGoAway() async throws {
        let server = try await TestServer.start()
        let cases: [(String, [UInt8])] = [
            ("DATA on stream 0", Frame(type: Frame.data, flags: 0, streamID: 0, payload: [1, 2, 3]).encoded),
            ("HEADERS with a broken HPACK block",
             Frame(type: Frame.headers, flags: Frame.endHeaders, streamID: 1, payload: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
                .encoded),
            ("oversized frame", Frame(type: Frame.ping, flags: 0, streamID: 0,
                                      payload: [UInt8](repeating: 0, count: 20000)).encoded),
            ("WINDOW_UPDATE of zero", Frame(type: Frame.windowUpdate, flags: 0, streamID: 0, payload: [0, 0, 0, 0])
                .encoded),
        ]
        for (name, bytes) in cases {
            let raw = try await RawConnection.connect(port: server.port)
            try await raw.send(Frame.preface + Frame(type: Frame.settings, flags: 0, streamID: 0, payload: []).encoded
                               + bytes)
            let closed = await raw.waitClosed()
            XCTAssertTrue(closed, name)
            let goaway = Frame.parse(raw.bytes).first { $0.type == Frame.goaway }
            XCTAssertNotNil(goaway, name)
            XCTAssertNotEqual(goaway?.errorCode, 0, name)
        }
        try await server.assertHealthy()
        await server.stop()
    }

    func testTruncatedFrameThenHangUp() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection.connect(port: server.port)
        let headers = Frame.requestHeaders(path: "/test.Echo/Sleep", streamID: 1).encoded
        let data = Frame(type: Frame.data, flags: 0, streamID: 1, payload: Frame.grpcMessage(Array("trunc".utf8)))
            .encoded
        // A full request, then half a DATA frame: the server waits for the rest, then sees the hang-up.
        try await raw.send(Frame.preface + Frame(type: Frame.settings, flags: 0, streamID: 0, payload: []).encoded
                           + headers + data + Array(data.prefix(6)))
        await server.events.wait(for: "started trunc")
        await raw.close()
        await server.events.wait(for: "cancelled trunc")
        try await server.assertHealthy()
        await server.stop()
    }

    func testTruncatedMessageAtEndOfStreamIsAnError() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection.connect(port: server.port)
        // A gRPC message announcing 100 bytes, but END_STREAM after 3.
        let headers = Frame.requestHeaders(path: "/test.Echo/Bidi", streamID: 1).encoded
        let data = Frame(type: Frame.data, flags: Frame.endStream, streamID: 1, payload: [0, 0, 0, 0, 100, 1, 2, 3])
            .encoded
        try await raw.send(Frame.preface + Frame(type: Frame.settings, flags: 0, streamID: 0, payload: []).encoded
                           + headers + data)
        let done = await raw.waitFor { frames in
            frames.contains { $0.type == Frame.headers && $0.streamID == 1 && $0.flags & Frame.endStream != 0 }
        }
        XCTAssertTrue(done)
        await raw.close()
        try await server.assertHealthy()
        await server.stop()
    }

    func testStreamFloodOverTheLimitIsRefused() async throws {
        var configuration = GRPCServerConfiguration()
        configuration.maxConcurrentStreams = 10
        let server = try await TestServer.start(configuration: configuration)
        let raw = try await RawConnection.connect(port: server.port)
        var bytes = Frame.preface + Frame(type: Frame.settings, flags: 0, streamID: 0, payload: []).encoded
        for i in 0..<50 {
            let id = UInt32(2 * i + 1)
            bytes += Frame.requestHeaders(path: "/test.Echo/Sleep", streamID: id).encoded
            bytes += Frame(type: Frame.data, flags: Frame.endStream, streamID: id,
                           payload: Frame.grpcMessage(Array("flood".utf8))).encoded
        }
        try await raw.send(bytes)
        // Streams beyond the limit are refused (or, had we acknowledged SETTINGS, the connection closed).
        let refused = await raw.waitFor { frames in
            frames.filter { $0.type == Frame.rstStream && $0.errorCode == 7 }.count >= 40
                || frames.contains { $0.type == Frame.goaway }
        }
        XCTAssertTrue(refused)
        try await server.assertHealthy()
        await raw.close()
        await server.stop()
    }

    func testMessagesSplitAcrossDataFramesAndSeveralPerFrame() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection.connect(port: server.port)
        let messages = (0..<4).map { i in [UInt8](repeating: UInt8(65 + i), count: 10 + 7 * i) }
        let stream = messages.flatMap(Frame.grpcMessage)
        // Cut the byte stream at awkward places: inside a prefix, inside a body, and keep two messages whole.
        let cuts = [0, 3, 20, 21, stream.count]
        var bytes = Frame.preface + Frame(type: Frame.settings, flags: 0, streamID: 0, payload: []).encoded
        bytes += Frame.requestHeaders(path: "/test.Echo/Bidi", streamID: 1).encoded
        for k in 0..<(cuts.count - 1) {
            let last = k == cuts.count - 2
            bytes += Frame(type: Frame.data, flags: last ? Frame.endStream : 0, streamID: 1,
                           payload: Array(stream[cuts[k]..<cuts[k + 1]])).encoded
        }
        try await raw.send(bytes)
        let done = await raw.waitFor { frames in
            frames.contains { $0.type == Frame.headers && $0.streamID == 1 && $0.flags & Frame.endStream != 0 }
        }
        XCTAssertTrue(done)
        let echoed = Frame.parse(raw.bytes).filter { $0.type == Frame.data && $0.streamID == 1 }.flatMap(\.payload)
        XCTAssertEqual(echoed, stream)
        await raw.close()
        await server.stop()
    }
}
