import Logging
import Gateway
import NIOCore
import NIOHTTP1
import Server
import TLS

/// HTTP/1.1 on the client port, as etcd serves it beside gRPC: the JSON gateway under `/v3/` (and
/// `/v3beta/`), `/health`, `/livez`, `/readyz`, `/version`, `/metrics`.
/// Not Sendable: confined to its channel's event loop. NIO's pipelining handler in front of it holds
/// the next request until this one's response has ended, so one request is served at a time.
final class HTTPEndpoints: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let node: ServerNode
    /// Nil on a `--listen-metrics-urls` listener, which serves `/metrics` and `/health` only.
    private let gateway: Gateway?
    private let requests: GatewayRequests

    /// The connection the requests came on (for an HTTP/2 stream's request, not the channel it is
    /// served on): its TLS and client certificate are what etcd's access controller checks.
    private let connection: Channel?
    /// A request refused before routing, answered once it has ended.
    private var refused: (head: HTTPRequestHead, answer: HealthChecks.Answer)?

    init(node: ServerNode, gateway: Gateway?, connection: Channel? = nil) {
        self.node = node
        self.gateway = gateway
        self.connection = connection
        self.requests = GatewayRequests(gateway: gateway)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part, let gateway,
           let refusal = Self.refusal(of: head, on: connection ?? context.channel, node: node, access: gateway.access) {
            if let line = refusal.logLine { Self.logger.warning("\(line)") }
            let (status, text) = ClientPortAccess.answer(refusal)
            refused = (head, (status, "text/plain; charset=utf-8", text))
        }
        if let (head, answer) = refused {
            if case .end = part {
                refused = nil
                write(head, answer, context: context, cors: false)
            }
            return
        }
        requests.read(part, context: context) { respond($0, context: context) }
    }

    /// etcd's access controller on the client port: what it refuses before routing (see
    /// `ClientPortAccess`), given the connection the request came on. Also asked before a WebSocket
    /// upgrade, which etcd's controller precedes. Call on the connection's loop.
    static func refusal(of head: HTTPRequestHead, on connection: Channel, node: ServerNode,
                        access: ClientPortAccess) -> ClientPortAccess.Refusal? {
        let certificateUsers = node.options.clientCertAuth && node.authStore.isEnabled
        return access.refusal(of: head, tls: TLSEndpoint.isTLS(connection),
                              peerCommonName: certificateUsers ? TLSEndpoint.verifiedPeerCommonName(of: connection) : nil,
                              certificateUsers: certificateUsers)
    }

    private static let logger = Logger(label: "embed")

    func channelInactive(context: ChannelHandlerContext) {
        requests.cancel()
        context.fireChannelInactive()
    }

    private func respond(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = GatewayRequests.path(head.uri)
        if gateway == nil, path != "/metrics", path != "/health" {
            write(head, Self.notFound, context: context)
            return
        }
        // etcd answers every OPTIONS (CORS preflight) with an empty 200.
        if head.method == .OPTIONS {
            write(head, (.ok, "", ""), context: context)
            return
        }
        switch path {
        case "/health", "/livez", "/readyz", _ where path.hasPrefix("/livez/") || path.hasPrefix("/readyz/"):
            guard head.method == .GET else {
                write(head, (.methodNotAllowed, "text/plain; charset=utf-8", "Method Not Allowed\n"), context: context, allow: "GET")
                return
            }
            Self.check(HealthChecks(node: node), path: path, head: head,
                       reply: NIOLoopBound((self, context), eventLoop: context.eventLoop))
        case "/version":
            guard head.method == .GET else {
                write(head, (.methodNotAllowed, "text/plain; charset=utf-8", "Method Not Allowed\n"), context: context)
                return
            }
            write(head, (.ok, "application/json",
                         #"{"etcdserver":"\#(ServerNode.version)","etcdcluster":"\#(ServerNode.clusterVersion)"}"#),
                  context: context)
        case "/metrics":
            write(head, (.ok, "text/plain; version=0.0.4; charset=utf-8", node.metricsText()), context: context)
        default:
            write(head, Self.notFound, context: context)
        }
    }

    /// Runs the health checks in a task (they may wait for a read) and answers on the loop.
    private static func check(_ checks: HealthChecks, path: String, head: HTTPRequestHead,
                              reply: NIOLoopBound<(HTTPEndpoints, ChannelHandlerContext)>) {
        let query = Query(uri: head.uri)
        Task {
            let answer = path == "/health" ? await checks.health(query: query) : await checks.probe(path: path, query: query)
            reply.eventLoop.execute {
                let (endpoints, context) = reply.value
                endpoints.write(head, answer ?? notFound, context: context)
            }
        }
    }

    private static let notFound: HealthChecks.Answer = (.notFound, "text/plain; charset=utf-8", "404 page not found\n")

    private func write(_ head: HTTPRequestHead, _ answer: HealthChecks.Answer, context: ChannelHandlerContext,
                       allow: String? = nil, cors: Bool = true) {
        let (status, contentType, body) = answer
        var headers = HTTPHeaders()
        // The metrics listener has no access controller in etcd, so no CORS headers either.
        if cors, let gateway { gateway.access.addCORS(to: &headers, origin: head.headers.first(name: "Origin")) }
        if let allow { headers.add(name: "Allow", value: allow) }
        if !contentType.isEmpty { headers.add(name: "Content-Type", value: contentType) }
        // Go's http.Error (and the probes) mark their text answers nosniff.
        if status != .ok || body.hasSuffix("ok\n") { headers.add(name: "X-Content-Type-Options", value: "nosniff") }
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        if !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
