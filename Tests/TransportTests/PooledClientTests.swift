import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import XCTest

@testable import Transport

/// Lease forwarding reuses kept-alive connections: many exchanges, one TCP connection.
final class PooledClientTests: XCTestCase {
    /// Answers every request with 200 and the request's body; counts the connections it accepts.
    final class EchoHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        private var body = ByteBuffer()

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: body.clear()
            case .body(var b): body.writeBuffer(&b)
            case .end:
                var head = HTTPResponseHead(version: .http1_1, status: .ok)
                head.headers.add(name: "Content-Length", value: String(body.readableBytes))
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }

    func testExchangesShareOneConnection() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let accepted = Atomic(0)
        let server = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                accepted.add(1, ordering: .relaxed)
                return channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        let port = try XCTUnwrap(server.localAddress?.port)
        let url = try XCTUnwrap(PeerURL("http://127.0.0.1:\(port)"))
        let client = PooledClient(tls: nil)
        defer { client.closeAll() }
        for i in 0..<20 {
            let r = try client.request(on: group.next(), url: url, method: .POST, path: "/leases", headers: [],
                                       body: ByteBuffer(string: "ka\(i)"), connectTimeout: .seconds(1),
                                       timeout: .seconds(2)).wait()
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.body, Array("ka\(i)".utf8))
        }
        XCTAssertEqual(accepted.load(ordering: .relaxed), 1, "every exchange after the first reuses the connection")
    }
}
