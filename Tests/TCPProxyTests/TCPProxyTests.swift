import Logging
import NIOCore
import NIOPosix
import XCTest

@testable import TCPProxy

/// The L4 gateway moves bytes both ways and skips an endpoint that refuses connections.
final class TCPProxyTests: XCTestCase {
    /// Echoes what it reads.
    private final class Echo: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.writeAndFlush(data, promise: nil) }
    }

    /// Collects what a client reads.
    private final class Collect: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: `received` is touched on the channel's loop and read after the loop is done with it.
        typealias InboundIn = ByteBuffer
        var received: [UInt8] = []
        var finished = false
        let want: Int
        let done: EventLoopPromise<[UInt8]>
        init(want: Int, done: EventLoopPromise<[UInt8]>) { self.want = want; self.done = done }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += unwrapInboundIn(data).readableBytesView
            if received.count >= want { finish() }
        }
        func channelInactive(context: ChannelHandlerContext) { finish() }
        private func finish() {
            if !finished { done.succeed(received) }
            finished = true
        }
    }

    func testSplicesBytesAndSkipsADeadEndpoint() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let echo = try await ServerBootstrap(group: group)
            .childChannelInitializer { $0.pipeline.addHandler(Echo()) }
            .bind(host: "127.0.0.1", port: 0).get()
        // A port that was bound and closed again: nothing listens there.
        let gone = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let deadPort = gone.localAddress!.port!
        try await gone.close()
        let proxy = TCPProxy(endpoints: [("127.0.0.1", deadPort), ("127.0.0.1", echo.localAddress!.port!)],
                             retryDelay: .seconds(60), logger: Logger(label: "test"))
        let listener = try await proxy.listen(host: "127.0.0.1", port: 0, group: group)
        let port = listener.localAddress!.port!

        for round in 0..<3 {
            let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ round) }
            let promise = group.next().makePromise(of: [UInt8].self)
            let client = try await ClientBootstrap(group: group)
                .channelInitializer { $0.pipeline.addHandler(Collect(want: payload.count, done: promise)) }
                .connect(host: "127.0.0.1", port: port).get()
            try await client.writeAndFlush(client.allocator.buffer(bytes: payload)).get()
            let got = try await promise.futureResult.get()
            XCTAssertEqual(got, payload, "round \(round)")
            try await client.close()
        }
        try await listener.close()
        try await echo.close()
        try await group.shutdownGracefully()
    }
}
