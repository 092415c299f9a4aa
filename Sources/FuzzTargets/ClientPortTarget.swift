// The whole client port on an in-memory channel: the protocol sniffer, then either HTTP/2 (nghttp2,
// the gRPC session, framing, metadata) or HTTP/1.1 (NIOHTTP1's parser, the JSON gateway, its
// WebSocket upgrade), wired as ClientServer wires them. The router has no methods, so every call
// ends "unimplemented" on the loop and nothing outlives the input.
import Gateway
import GRPC
import NIOCore
import NIOEmbedded
import NIOHTTP1

extension FuzzTargets {
    static let clientPort = FuzzTarget(
        name: "client-port", summary: "client port bytes: sniffer, HTTP/2 + gRPC, HTTP/1.1 + JSON gateway + WebSocket",
        run: { bytes in
            var r = InputReader(bytes)
            let cuts = r.byte()
            let channel = EmbeddedChannel()
            let router = GRPCRouter()
            let gateway = Gateway(router: router, maxMessageBytes: 1 << 16, maxConcurrentStreams: 4)
            let http: @Sendable (Channel) -> EventLoopFuture<Void> = { channel in
                let upgrader = gateway.webSocketUpgrader { $0.pipeline.removeHandler(name: "http-endpoints") }
                let upgrade: NIOHTTPServerUpgradeSendableConfiguration = (upgraders: [upgrader], completionHandler: { _ in })
                return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: upgrade, withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(GatewayOnlyEndpoints(gateway: gateway), name: "http-endpoints")
                }
            }
            var configuration = GRPCServerConfiguration()
            configuration.maxReceiveMessageSize = 1 << 16
            // No plainHTTP: its h2 bridge dials a loopback connection, which an EmbeddedChannel cannot.
            do {
                try GRPCServer.configureServerPipeline(channel, router: router, configuration: configuration,
                                                       http1Fallback: http).wait()
                try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2379)).wait()
            } catch {
                preconditionFailure("cannot build the client pipeline: \(error)")
            }
            for chunk in chunks(r.rest, sizes: cuts) {
                guard channel.isActive else { break }
                do { try channel.writeInbound(channel.allocator.buffer(bytes: chunk)) } catch { break }
                channel.embeddedEventLoop.run()
                drainOutbound(channel)
            }
            _ = try? channel.finish(acceptAlreadyClosed: true)
            channel.embeddedEventLoop.run()
        },
        seeds: {
            let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
            // SETTINGS (empty), HEADERS on stream 1 (literal, not indexed), DATA with one gRPC message.
            func frame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
                let n = payload.count
                return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags]
                    + withUnsafeBytes(of: stream.bigEndian) { Array($0) } + payload
            }
            func literal(_ name: String, _ value: String) -> [UInt8] {
                [0x00, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(value.utf8.count)] + Array(value.utf8)
            }
            let headers = literal(":method", "POST") + literal(":scheme", "http") + literal(":path", "/etcdserverpb.KV/Range")
                + literal(":authority", "localhost") + literal("content-type", "application/grpc") + literal("te", "trailers")
                + literal("grpc-timeout", "5S")
            let message: [UInt8] = [0, 0, 0, 0, 5, 0x0a, 0x03, 0x66, 0x6f, 0x6f]
            let h2 = preface + frame(4, 0, 0, []) + frame(1, 4, 1, headers) + frame(0, 1, 1, message)
            let json = #"{"key":"Zm9v"}"#
            let post = "POST /v3/kv/range HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)"
            let chunked = "POST /v3beta/watch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\n{\"create_request\":{\"key\":\"\r\n6\r\nYQ==\"}}\r\n0\r\n\r\n"
            let get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            let ws = "GET /v3/watch HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: Bearer, tok\r\n\r\n"
            // A masked text frame carrying a watch create request.
            let wsBody = Array(#"{"create_request":{"key":"YQ=="}}"#.utf8)
            let mask: [UInt8] = [1, 2, 3, 4]
            let wsFrame = [0x81, 0x80 | UInt8(wsBody.count)] + mask + wsBody.enumerated().map { $0.element ^ mask[$0.offset % 4] }
            return [[0] + h2, [13] + h2, [0] + Array(post.utf8), [5] + Array(chunked.utf8), [0] + Array(get.utf8),
                    [0] + Array(ws.utf8) + wsFrame]
        })
}

/// Reads and drops whatever the pipeline wrote.
private func drainOutbound(_ channel: EmbeddedChannel) {
    while true {
        do {
            guard try channel.readOutbound(as: IOData.self) != nil else { return }
        } catch {
            do { guard try channel.readOutbound(as: ByteBuffer.self) != nil else { return } } catch { return }
        }
    }
}

/// The API module's HTTPEndpoints without a server behind it: the same routing (gateway paths go
/// to the gateway), and a 404 for everything else.
private final class GatewayOnlyEndpoints: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let requests: GatewayRequests

    init(gateway: Gateway) { requests = GatewayRequests(gateway: gateway) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        requests.read(unwrapInboundIn(data), context: context) { h in
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: .notFound, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        requests.cancel()
        context.fireChannelInactive()
    }
}
