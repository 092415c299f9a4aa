import NIOCore
import NIOHTTP1
import NIOWebSocket

/// etcd 3.4 wraps its gateway in grpc-websocket-proxy: a WebSocket upgrade of a `/v3/` request
/// (a watch, a lease keepalive) becomes a POST whose body is the client's messages, one per line,
/// and each line of the response body becomes one text message. A `Sec-WebSocket-Protocol` of
/// `Bearer, <token>` carries the token as the request's `Authorization`.
extension Gateway {
    /// The upgrader to install in the client port's HTTP/1.1 pipeline. `refuses` tells a request
    /// the access controller refuses (it is then not upgraded, and the HTTP handlers answer it);
    /// `leaveHTTP` removes the handlers behind the HTTP codec that must not see WebSocket frames.
    public func webSocketUpgrader(leaveHTTP: @escaping @Sendable (Channel) -> EventLoopFuture<Void>,
                                  refuses: @escaping @Sendable (HTTPRequestHead) -> Bool = { _ in false }) -> NIOWebSocketServerUpgrader {
        NIOWebSocketServerUpgrader(
            maxFrameSize: 1 << 24,
            shouldUpgrade: { channel, head in
                guard Gateway.serves(path: head.uri), !refuses(head) else { return channel.eventLoop.makeSucceededFuture(nil) }
                // gorilla/websocket (etcd's proxy) refuses an upgrade without the `upgrade` token in
                // Connection. So must we: llhttp then goes on parsing the bytes after the request,
                // and NIO hands those HTTP parts to the WebSocket decoder, which traps (fuzzing).
                let connection = head.headers[canonicalForm: "connection"].map { $0.lowercased() }
                guard connection.contains("upgrade") else { return channel.eventLoop.makeSucceededFuture(nil) }
                var headers = HTTPHeaders()
                if head.headers.first(name: "Sec-WebSocket-Protocol")?.hasPrefix("Bearer") == true {
                    headers.add(name: "Sec-WebSocket-Protocol", value: "Bearer")
                }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { [self] channel, head in
                leaveHTTP(channel).flatMapThrowing {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(PingResponder())
                    try sync.addHandler(ResponseLinesToMessages())
                    try sync.addHandler(WebSocketGatewayHandler(gateway: self, head: Self.request(from: head)))
                }
            })
    }

    /// The request the proxy makes of the gateway: a POST to the same URI, with the token.
    static func request(from head: HTTPRequestHead) -> HTTPRequestHead {
        var request = HTTPRequestHead(version: .http1_1, method: .POST, uri: head.uri)
        if let proto = head.headers.first(name: "Sec-WebSocket-Protocol"), !proto.isEmpty {
            // transformSubProtocolHeader: "Bearer, token" -> "Bearer token".
            let parts = proto.split(separator: ",", maxSplits: 1).map { String($0.drop { $0 == " " }) }
            request.headers.add(name: "Authorization", value: parts.joined(separator: " "))
        }
        for name in ["Origin", "Referer"] {
            if let value = head.headers.first(name: name) { request.headers.add(name: name, value: value) }
        }
        return request
    }
}

/// Answers pings (as gorilla/websocket does by default); sits below the response translation so a
/// pong goes straight to the frame encoder.
private final class PingResponder: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.opcode == .ping else {
            context.fireChannelRead(data)
            return
        }
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
    }
}

/// Feeds client messages to a gateway exchange as body lines; the exchange writes its response as
/// HTTP parts, which ``ResponseLinesToMessages`` turns into messages.
private final class WebSocketGatewayHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame
    private let gateway: Gateway
    private let head: HTTPRequestHead
    private var exchange: GatewayExchange?
    private var message: ByteBuffer?

    init(gateway: Gateway, head: HTTPRequestHead) {
        self.gateway = gateway
        self.head = head
    }

    func handlerAdded(context: ChannelHandlerContext) {
        exchange = gateway.exchange(head: head, context: context) { [weak self] in self?.exchange = nil }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary, .continuation:
            var data = frame.unmaskedData
            if message == nil { message = context.channel.allocator.buffer(capacity: data.readableBytes + 1) }
            message!.writeBuffer(&data)
            guard frame.fin, var whole = message else { return }
            message = nil
            whole.writeInteger(UInt8(ascii: "\n"))
            guard let exchange else { return }
            exchange.receive(whole)
            // A unary method reads one JSON object from the body (grpc-gateway's decoder): it starts now.
            if !exchange.isStreamingRoute { exchange.end() }
        case .connectionClose:
            // The proxy's read loop ends, which ends the request: the call stops.
            exchange?.cancel()
            exchange = nil
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        exchange?.cancel()
        exchange = nil
        context.fireChannelInactive()
    }
}

/// The response side of the proxy: each non-empty line of the body becomes a text message; the end of
/// the response closes the WebSocket. The status line and headers are not sent (wsproxy drops them).
final class ResponseLinesToMessages: ChannelOutboundHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = WebSocketFrame
    private var partial: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            promise?.succeed(())
        case .body(.byteBuffer(var bytes)):
            if var rest = partial {
                rest.writeBuffer(&bytes)
                bytes = rest
                partial = nil
            }
            while let newline = bytes.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let line = bytes.readSlice(length: newline - bytes.readerIndex)!
                bytes.moveReaderIndex(forwardBy: 1)
                if line.readableBytes > 0 { context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: line)), promise: nil) }
            }
            if bytes.readableBytes > 0 { partial = bytes }
            promise?.succeed(())
        case .body(.fileRegion):
            promise?.succeed(())
        case .end:
            if let line = partial, line.readableBytes > 0 {
                context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: line)), promise: nil)
            }
            partial = nil
            var code = context.channel.allocator.buffer(capacity: 2)
            code.write(webSocketErrorCode: .normalClosure)
            context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)), promise: promise)
        }
    }
}
