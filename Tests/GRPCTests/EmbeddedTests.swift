import GRPC
import NIOCore
import NIOEmbedded
import XCTest

/// The server handler on an in-memory channel: no sockets, bytes in and out by hand.
final class EmbeddedTests: XCTestCase {
    func testUnaryOverAnInMemoryChannelAndNoLeakAfterClose() async throws {
        let router = makeTestRouter(events: EventLog())
        let channel = NIOAsyncTestingChannel()
        let weakHandler = try await channel.testingEventLoop.executeInContext {
            let handler = ServerConnectionHandler(router: router)
            try channel.pipeline.syncOperations.addHandler(handler)
            return WeakReference(handler)
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        var input = Frame.preface + Frame(type: Frame.settings, flags: 0, streamID: 0, payload: []).encoded
        input += Frame.requestHeaders(path: "/test.Echo/Unary", streamID: 1).encoded
        input += Frame(type: Frame.data, flags: Frame.endStream, streamID: 1,
                       payload: Frame.grpcMessage(Array("in memory".utf8))).encoded
        try await channel.writeInbound(ByteBuffer(bytes: input))

        var output: [UInt8] = []
        func finished() -> Bool {
            Frame.parse(output).contains { $0.type == Frame.headers && $0.streamID == 1 && $0.flags & Frame.endStream != 0 }
        }
        for _ in 0..<500 where !finished() {
            if let chunk = try await channel.readOutbound(as: ByteBuffer.self) {
                output += chunk.readableBytesView
            } else {
                // Work the handler queued from inside the loop runs only when the testing loop is told to.
                await channel.testingEventLoop.run()
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        XCTAssertTrue(finished())
        let frames = Frame.parse(output)
        XCTAssertEqual(frames.first?.type, Frame.settings)
        let body = frames.filter { $0.type == Frame.data && $0.streamID == 1 }.flatMap(\.payload)
        XCTAssertEqual(body, Frame.grpcMessage(Array("in memory".utf8)))

        try await channel.close()
        XCTAssertNil(weakHandler.value, "the connection handler outlived its channel")
    }

    /// What nghttp2 queues while reading a request (here a PING ack) is written only after the
    /// handler started in that read has run to its first wait: on a loaded machine the write would
    /// otherwise wake the client, which could take the CPU before the request reaches raft.
    func testOutputOfAReadWaitsForTheHandlersItStarted() async throws {
        let events = EventLog()
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(ServerConnectionHandler(router: makeTestRouter(events: events)))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        await channel.testingEventLoop.run()
        while try await channel.readOutbound(as: ByteBuffer.self) != nil {} // the server's SETTINGS

        var input = Frame.preface + Frame(type: Frame.settings, flags: 0, streamID: 0, payload: []).encoded
        input += Frame.requestHeaders(path: "/test.Echo/Sleep", streamID: 1).encoded
        input += Frame(type: Frame.data, flags: Frame.endStream, streamID: 1, payload: Frame.grpcMessage(Array("p".utf8))).encoded
        input += Frame(type: Frame.ping, flags: 0, streamID: 0, payload: Array(repeating: 7, count: 8)).encoded
        try await channel.writeInbound(ByteBuffer(bytes: input))
        let early = try await channel.readOutbound(as: ByteBuffer.self)
        XCTAssertNil(early, "bytes were written before the handler the read started had run")
        XCTAssertFalse(events.events.contains("started p"))

        await channel.testingEventLoop.run()
        XCTAssertTrue(events.events.contains("started p"))
        var output: [UInt8] = []
        while let chunk = try await channel.readOutbound(as: ByteBuffer.self) { output += chunk.readableBytesView }
        let frames = Frame.parse(output)
        XCTAssertTrue(frames.contains { $0.type == Frame.ping && $0.flags & Frame.ack != 0 && $0.payload == Array(repeating: 7, count: 8) },
                      "the PING was not answered once the handler had started")
        try await channel.close()
    }
}

/// A weak reference that can cross into the test task. `@unchecked`: only read after the loop is idle.
private final class WeakReference: @unchecked Sendable {
    weak var value: AnyObject?
    init(_ value: AnyObject) { self.value = value }
}
