import NIOCore
import NIOHTTP1
import Server

/// HTTP/1.1 on the client port: `/health`, `/version`, `/metrics`, as etcd serves them beside gRPC.
/// The JSON gateway (`/v3/...`) comes with a later issue; until then those paths answer 404.
/// Not Sendable: confined to its channel's event loop.
final class HTTPEndpoints: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let node: ServerNode
    private var head: HTTPRequestHead?

    init(node: ServerNode) { self.node = node }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let (status, contentType, body) = respond(head)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                          promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))),
                          promise: nil)
            let keepAlive = head.isKeepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }

    private func respond(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String, String) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch path {
        case "/health":
            guard head.method == .GET else { return methodNotAllowed() }
            let healthy = node.isHealthy
            return (healthy ? .ok : .serviceUnavailable, "application/json",
                    healthy ? #"{"health":"true"}"# : #"{"health":"false"}"#)
        case "/version":
            guard head.method == .GET else { return methodNotAllowed() }
            return (.ok, "application/json",
                    #"{"etcdserver":"\#(ServerNode.version)","etcdcluster":"\#(ServerNode.clusterVersion)"}"#)
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", node.metricsText())
        default:
            return (.notFound, "text/plain; charset=utf-8", "404 page not found\n")
        }
    }

    private func methodNotAllowed() -> (HTTPResponseStatus, String, String) {
        (.methodNotAllowed, "text/plain; charset=utf-8", "Method Not Allowed\n")
    }
}
