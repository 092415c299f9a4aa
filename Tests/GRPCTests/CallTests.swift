import GRPC
import NIOCore
import Synchronization
import XCTest

final class SendCounter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

final class CallTests: XCTestCase {
    func testUnaryEcho() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let (response, trailers) = try await client.unary("/test.Echo/Unary", buffer("hello"))
        XCTAssertEqual(text(response), "hello")
        XCTAssertTrue(trailers.isEmpty)
        let (empty, _) = try await client.unary("/test.Echo/Unary", ByteBuffer())
        XCTAssertEqual(empty.readableBytes, 0)
        await client.close()
        await server.stop()
    }

    func testMetadataEchoIncludingBinary() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        var metadata = Metadata()
        metadata.add("x-echo-initial", "test_initial_metadata_value")
        let binary: [UInt8] = [0x00, 0x01, 0xAB, 0xFF, 0x0A]
        metadata.add("x-echo-trailing-bin", binary: binary)
        let call = try await client.makeCall("/test.Echo/Unary", metadata: metadata)
        try await call.send(buffer("m"))
        call.closeSend()
        var got: [String] = []
        for try await m in call.responses { got.append(text(m)) }
        XCTAssertEqual(got, ["m"])
        let headers = try await call.headers()
        XCTAssertEqual(headers["x-echo-initial"], "test_initial_metadata_value")
        let outcome = await call.outcome()
        XCTAssertEqual(outcome.status.code, .ok)
        XCTAssertEqual(outcome.trailers.first("x-echo-trailing-bin"), .binary(binary))
        await client.close()
        await server.stop()
    }

    func testStatusCodeAndPercentEncodedMessage() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let special = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n 100%"
        var request = ByteBuffer()
        request.writeInteger(UInt8(2))
        request.writeString(special)
        do {
            _ = try await client.unary("/test.Echo/Fail", request)
            XCTFail("expected an error")
        } catch let status as GRPCStatus {
            XCTAssertEqual(status.code, .unknown)
            XCTAssertEqual(status.message, special)
        }
        var r2 = ByteBuffer()
        r2.writeInteger(UInt8(GRPCStatus.Code.notFound.rawValue))
        r2.writeString("no such thing")
        do {
            _ = try await client.unary("/test.Echo/Fail", r2)
            XCTFail("expected an error")
        } catch let status as GRPCStatus {
            XCTAssertEqual(status, GRPCStatus(code: .notFound, message: "no such thing"))
        }
        await client.close()
        await server.stop()
    }

    func testUnknownServiceAndMethod() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        do {
            _ = try await client.unary("/nope.Service/Call", buffer("x"))
            XCTFail("expected UNIMPLEMENTED")
        } catch let status as GRPCStatus {
            XCTAssertEqual(status, GRPCStatus(code: .unimplemented, message: "unknown service nope.Service"))
        }
        do {
            _ = try await client.unary("/test.Echo/Nope", buffer("x"))
            XCTFail("expected UNIMPLEMENTED")
        } catch let status as GRPCStatus {
            XCTAssertEqual(status, GRPCStatus(code: .unimplemented, message: "unknown method Nope for service test.Echo"))
        }
        await client.close()
        await server.stop()
    }

    func testServerStreaming() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        var request = ByteBuffer()
        request.writeInteger(UInt32(500))
        let call = try await client.makeCall("/test.Echo/Count")
        try await call.send(request)
        call.closeSend()
        var expected: UInt32 = 0
        for try await var m in call.responses {
            XCTAssertEqual(m.readInteger(as: UInt32.self), expected)
            expected += 1
        }
        XCTAssertEqual(expected, 500)
        let outcome = await call.outcome()
        XCTAssertEqual(outcome.status.code, .ok)
        await client.close()
        await server.stop()
    }

    func testClientStreaming() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let call = try await client.makeCall("/test.Echo/Sum")
        for size in [27182, 8, 1828, 45904, 0] {
            try await call.send(ByteBuffer(repeating: 1, count: size))
        }
        call.closeSend()
        var responses: [ByteBuffer] = []
        for try await m in call.responses { responses.append(m) }
        XCTAssertEqual(responses.count, 1)
        var r = responses[0]
        XCTAssertEqual(r.readInteger(as: UInt32.self), 5)
        XCTAssertEqual(r.readInteger(as: UInt32.self), 74922)
        await client.close()
        await server.stop()
    }

    func testBidiPingPongAndEmptyStream() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let call = try await client.makeCall("/test.Echo/Bidi")
        var iterator = call.responses.makeAsyncIterator()
        for i in 0..<20 {
            try await call.send(buffer("ping \(i)"))
            let reply = try await iterator.next()
            XCTAssertEqual(reply.map(text), "ping \(i)")
        }
        call.closeSend()
        let end = try await iterator.next()
        XCTAssertNil(end)
        let headers = try await call.headers()
        XCTAssertEqual(headers["x-bidi"], "yes")
        let outcome = await call.outcome()
        XCTAssertEqual(outcome.status.code, .ok)
        XCTAssertEqual(outcome.trailers["x-done"], "true")

        let empty = try await client.makeCall("/test.Echo/Bidi")
        empty.closeSend()
        var count = 0
        for try await _ in empty.responses { count += 1 }
        XCTAssertEqual(count, 0)
        let emptyOutcome = await empty.outcome()
        XCTAssertEqual(emptyOutcome.status.code, .ok)
        await client.close()
        await server.stop()
    }

    func testFourMillionBytesEachWay() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let big = ByteBuffer(repeating: 0xA5, count: 4_000_000)
        let (echo, _) = try await client.unary("/test.Echo/Unary", big, timeout: .seconds(30))
        XCTAssertEqual(echo, big)
        var request = ByteBuffer()
        request.writeInteger(UInt32(4_000_000))
        let (large, _) = try await client.unary("/test.Echo/Size", request, timeout: .seconds(30))
        XCTAssertEqual(large, ByteBuffer(repeating: 0x5A, count: 4_000_000))
        await client.close()
        await server.stop()
    }

    func testOverSizeMessageIsResourceExhausted() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let tooBig = ByteBuffer(repeating: 1, count: 4 * 1024 * 1024 + 1)
        do {
            _ = try await client.unary("/test.Echo/Unary", tooBig, timeout: .seconds(30))
            XCTFail("expected RESOURCE_EXHAUSTED")
        } catch let status as GRPCStatus {
            XCTAssertEqual(status.code, .resourceExhausted)
            XCTAssertEqual(status.message, "grpc: received message larger than max (4194305 vs. 4194304)")
        }
        // The connection stays usable.
        let (ok, _) = try await client.unary("/test.Echo/Unary", buffer("after"))
        XCTAssertEqual(text(ok), "after")
        await client.close()
        await server.stop()
    }

    func testHundredConcurrentUnaryCallsOnOneConnection() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    let payload = ByteBuffer(repeating: UInt8(i), count: 1000 + i)
                    let (response, _) = try await client.unary("/test.Echo/Unary", payload, timeout: .seconds(30))
                    XCTAssertEqual(response, payload)
                }
            }
            try await group.waitForAll()
        }
        await client.close()
        await server.stop()
    }

    func testUnreadRequestsHoldBackTheStreamWindow() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let call = try await client.makeCall("/test.Echo/GatedSum")
        await server.events.wait(for: "gated started")
        let sent = SendCounter()
        let sender = Task {
            for _ in 0..<48 {
                try await call.send(ByteBuffer(repeating: 3, count: 1 << 20))
                sent.increment()
            }
            call.closeSend()
        }
        // The handler reads nothing yet: the client gets about one stream window (8 MiB) plus the buffers on
        // each side through, then its sends stall.
        while sent.value < 8 { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertLessThan(sent.value, 20)
        server.events.record("open gate")
        try await sender.value
        var total: UInt64 = 0
        for try await var m in call.responses { total = m.readInteger() ?? 0 }
        XCTAssertEqual(total, 48 << 20)
        await client.close()
        await server.stop()
    }

    func testHandlersOnTheGlobalPool() async throws {
        var configuration = GRPCServerConfiguration()
        configuration.runHandlersOnEventLoop = false
        let server = try await TestServer.start(configuration: configuration)
        let client = try await server.client()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<50 {
                group.addTask {
                    let (response, _) = try await client.unary("/test.Echo/Unary", buffer("call \(i)"))
                    XCTAssertEqual(text(response), "call \(i)")
                }
            }
            try await group.waitForAll()
        }
        let call = try await client.makeCall("/test.Echo/Bidi")
        try await call.send(buffer("one"))
        call.closeSend()
        var got: [String] = []
        for try await m in call.responses { got.append(text(m)) }
        XCTAssertEqual(got, ["one"])
        do {
            _ = try await client.unary("/test.Echo/Sleep", buffer("pool deadline"), timeout: .milliseconds(50))
            XCTFail("expected DEADLINE_EXCEEDED")
        } catch let status as GRPCStatus {
            XCTAssertEqual(status.code, .deadlineExceeded)
        }
        await server.events.wait(for: "cancelled pool deadline")
        await client.close()
        await server.stop()
    }

    func testDeadlineExceededCancelsHandler() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        do {
            _ = try await client.unary("/test.Echo/Sleep", buffer("deadline"), timeout: .milliseconds(100))
            XCTFail("expected DEADLINE_EXCEEDED")
        } catch let status as GRPCStatus {
            XCTAssertEqual(status.code, .deadlineExceeded)
        }
        await server.events.wait(for: "cancelled deadline")
        await client.close()
        await server.stop()
    }

    func testClientResetCancelsHandler() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let call = try await client.makeCall("/test.Echo/Sleep")
        try await call.send(buffer("reset"))
        call.closeSend()
        await server.events.wait(for: "started reset")
        call.cancel()
        await server.events.wait(for: "cancelled reset")
        let outcome = await call.outcome()
        XCTAssertEqual(outcome.status.code, .cancelled)
        try await server.assertHealthy()
        await client.close()
        await server.stop()
    }

    func testGracefulShutdownLetsRunningCallsFinish() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let idle = try await RawConnection.connect(port: server.port)
        async let slow = client.unary("/test.Echo/Slow", buffer("finish me"), timeout: .seconds(10))
        await server.events.wait(for: "started slow")
        await server.stop()
        let idleClosed = await idle.waitClosed()
        XCTAssertTrue(idleClosed, "a connection that never spoke stays open after shutdown")
        let (response, _) = try await slow
        XCTAssertEqual(text(response), "finish me")
        do {
            let late = try await server.client()
            _ = try await late.unary("/test.Echo/Unary", buffer("x"), timeout: .seconds(5))
            XCTFail("a stopped server answered")
        } catch {}
        await client.close()
    }
}
