import CNghttp2
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Serves an HTTP/2 stream that is not a gRPC call with the server's HTTP/1.1 handlers, as etcd's
/// client port answers the JSON gateway, `/health`, `/metrics` and the rest over h2 too. The request
/// goes into a socket pair as HTTP/1.1 (one request, `connection: close`); the handlers
/// ``GRPCServerConfiguration/plainHTTP`` installs answer on the other end, and their response comes
/// back as this stream's HEADERS, DATA and trailers. Both ends live on the connection's event loop.
///
/// Not `Sendable`: confined to that loop, like its ``ServerConnectionHandler``.
final class PlainStreamBridge {
    private weak var connection: ServerConnectionHandler?
    private let streamID: Int32
    private var channel: Channel?
    private var serving: Channel?
    /// Request parts written before the socket pair is up.
    private var waiting: [HTTPClientRequestPart] = []
    private var closed = false
    private(set) var paused = false

    private init(connection: ServerConnectionHandler, streamID: Int32) {
        self.connection = connection
        self.streamID = streamID
    }

    /// Starts serving `call` (whose headers are complete) with handlers `serve` adds to a channel.
    static func start(call: ServerCall, connection: ServerConnectionHandler, eventLoop: any EventLoop,
                      serve: @escaping @Sendable (Channel) -> EventLoopFuture<Void>) -> PlainStreamBridge {
        let bridge = PlainStreamBridge(connection: connection, streamID: call.id)
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: call.method), uri: call.path)
        head.headers.add(name: "host", value: call.authority ?? "localhost")
        for (name, value) in call.plainHeaders where name != "host" && name != "connection" {
            head.headers.add(name: name, value: value)
        }
        head.headers.add(name: "connection", value: "close")
        bridge.waiting.append(.head(head))

        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else {
            bridge.failed()
            return bridge
        }
        let bound = NIOLoopBound(bridge, eventLoop: eventLoop)
        let served = ClientBootstrap(group: eventLoop)
            .channelInitializer { serve($0) }
            .withConnectedSocket(fds[0])
        let client = ClientBootstrap(group: eventLoop)
            .channelOption(.autoRead, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(HTTPRequestEncoder())
                    try sync.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(ResponseHandler(bridge: bound))
                }
            }
            .withConnectedSocket(fds[1])
        served.and(client).whenComplete { result in
            switch result {
            case .success(let (server, client)): bound.value.connected(server: server, client: client)
            case .failure:
                // A side that did come up owns its descriptor; close the others.
                served.whenSuccess { $0.close(promise: nil) }
                client.whenSuccess { $0.close(promise: nil) }
                served.whenFailure { _ in Glibc.close(fds[0]) }
                client.whenFailure { _ in Glibc.close(fds[1]) }
                bound.value.failed()
            }
        }
        return bridge
    }

    private func connected(server: Channel, client: Channel) {
        serving = server
        channel = client
        if closed {
            client.close(promise: nil)
            server.close(promise: nil)
            return
        }
        for part in waiting { client.write(part, promise: nil) }
        waiting = []
        client.flush()
    }

    // MARK: - Request (from the connection)

    func requestBody(_ bytes: UnsafeRawBufferPointer) {
        guard !closed else { return }
        let part = HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: bytes)))
        if let channel { channel.writeAndFlush(part, promise: nil) } else { waiting.append(part) }
    }

    func requestEnded() {
        guard !closed else { return }
        if let channel { channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil) } else { waiting.append(.end(nil)) }
    }

    /// Whether request bytes may flow in now (the socket pair takes them).
    var isWritable: Bool { channel?.isWritable ?? true }

    /// The client is gone or the connection closes: drop both ends.
    func close() {
        guard !closed else { return }
        closed = true
        channel?.close(promise: nil)
        serving?.close(promise: nil)
    }

    // MARK: - Response (to the connection)

    /// The connection's output for this stream drained: take more of the response.
    func resumeReading() {
        guard paused, let channel else { return }
        paused = false
        _ = channel.setOption(.autoRead, value: true)
    }

    fileprivate func received(_ part: HTTPClientResponsePart) {
        guard !closed, let connection else { return }
        switch part {
        case .head(let head):
            var block = HeaderBlock()
            block.add(":status", String(head.status.code))
            for (name, value) in head.headers where !Self.hopByHop.contains(name.lowercased()) {
                block.add(name.lowercased(), value)
            }
            connection.plainResponseHead(streamID: streamID, headers: block)
        case .body(let body):
            if connection.plainResponseBody(streamID: streamID, body) && !paused, let channel {
                paused = true
                _ = channel.setOption(.autoRead, value: false)
            }
        case .end(let trailers):
            var block: HeaderBlock?
            if let trailers, !trailers.isEmpty {
                var b = HeaderBlock()
                for (name, value) in trailers { b.add(name.lowercased(), value) }
                block = b
            }
            connection.plainResponseEnd(streamID: streamID, trailers: block)
            close()
        }
    }

    fileprivate func lost() {
        guard !closed else { return }
        failed()
    }

    private func failed() {
        close()
        connection?.plainResponseFailed(streamID: streamID)
    }

    /// HTTP/1.1 connection headers HTTP/2 forbids.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "trailer"]
}

/// Hands the HTTP/1.1 response to the bridge.
private final class ResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let bridge: NIOLoopBound<PlainStreamBridge>

    init(bridge: NIOLoopBound<PlainStreamBridge>) { self.bridge = bridge }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bridge.value.received(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        bridge.value.lost()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
