import NIOCore
import NIOHTTP1

/// The HTTP/1.1 requests of one client-port connection, as etcd routes them: a request under the
/// gateway's paths (other than OPTIONS) streams to a `GatewayExchange`; any other is handed to
/// `other` once it has ended. One request at a time (NIO's pipelining handler holds the next until
/// this one's response has ended). Confined to the channel's event loop.
public final class GatewayRequests {
    /// Nil where no gateway is served (a metrics listener): every request goes to `other`.
    private let gateway: Gateway?
    private var exchange: GatewayExchange?
    private var head: HTTPRequestHead?

    public init(gateway: Gateway?) { self.gateway = gateway }

    public func read(_ part: HTTPServerRequestPart, context: ChannelHandlerContext, other: (HTTPRequestHead) -> Void) {
        switch part {
        case .head(let h):
            if let gateway, Gateway.serves(path: Self.path(h.uri)), h.method != .OPTIONS {
                exchange = gateway.exchange(head: h, context: context) { [weak self] in self?.exchange = nil }
            } else {
                head = h
            }
        case .body(let chunk):
            exchange?.receive(chunk)
        case .end:
            if let exchange {
                exchange.end()
            } else if let h = head {
                head = nil
                other(h)
            }
        }
    }

    /// The channel closed: a gateway call still running is cancelled.
    public func cancel() {
        exchange?.cancel()
        exchange = nil
    }

    /// A request URI without its query.
    public static func path(_ uri: String) -> String {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
    }
}
