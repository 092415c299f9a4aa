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
}

/// A weak reference that can cross into the test task. `@unchecked`: only read after the loop is idle.
private final class WeakReference: @unchecked Sendable {
    weak var value: AnyObject?
    init(_ value: AnyObject) { self.value = value }
}
