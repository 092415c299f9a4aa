import NIOCore
import NIOPosix

/// A small gRPC client over one HTTP/2 connection, for tests and tools.
public final class GRPCClient: Sendable {
    public let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects to `host:port` (plaintext HTTP/2 with prior knowledge).
    public static func connect(
        host: String, port: Int, group: any EventLoopGroup, maxReceiveMessageSize: Int = 64 << 20
    ) async throws -> GRPCClient {
        let authority = "\(host):\(port)"
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ClientConnectionHandler(authority: authority, maxMessageSize: maxReceiveMessageSize))
                }
            }
            .connect(host: host, port: port).get()
        return GRPCClient(channel: channel)
    }

    /// Closes the connection.
    public func close() async {
        try? await channel.close()
    }

    /// A unary call. Returns the response and the trailing metadata; throws the ``GRPCStatus`` if not OK.
    public func unary(
        _ path: String, _ request: ByteBuffer, metadata: Metadata = Metadata(), timeout: TimeAmount? = nil
    ) async throws -> (ByteBuffer, Metadata) {
        let call = try await start(path, metadata: metadata, timeout: timeout, messages: [request], end: true)
        var response: ByteBuffer?
        for try await message in call.responses where response == nil {
            response = message
        }
        let outcome = await call.outcome()
        guard outcome.status.code == .ok else { throw outcome.status }
        guard let response else { throw GRPCStatus(code: .internal, message: "no response message") }
        return (response, outcome.trailers)
    }

    /// Starts a streaming call (any kind): send with ``GRPCClientCall/send(_:)``, half-close with
    /// ``GRPCClientCall/closeSend()``, read ``GRPCClientCall/responses``.
    public func makeCall(
        _ path: String, metadata: Metadata = Metadata(), timeout: TimeAmount? = nil
    ) async throws -> GRPCClientCall {
        try await start(path, metadata: metadata, timeout: timeout, messages: [], end: false)
    }

    func start(
        _ path: String, metadata: Metadata, timeout: TimeAmount?, messages: [ByteBuffer], end: Bool
    ) async throws -> GRPCClientCall {
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let channel = self.channel
        let started = try await channel.eventLoop.submit {
            let handler = try channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
            return try handler.start(path: path, metadata: metadata, timeout: timeout, messages: messages, end: end,
                                     responses: continuation).get()
        }.get()
        return GRPCClientCall(channel: channel, streamID: started.0, responses: MessageStream(base: stream, onRead: nil),
                              headersFuture: started.1, outcomeFuture: started.2)
    }
}

/// One client call in progress.
public struct GRPCClientCall: Sendable {
    /// How a call ended: its status and trailing metadata.
    public struct Outcome: Sendable {
        public var status: GRPCStatus
        public var trailers: Metadata
    }

    let channel: any Channel
    /// The HTTP/2 stream ID.
    public let streamID: Int32
    /// The response messages; throws the call's status when it is not OK.
    public let responses: MessageStream
    let headersFuture: EventLoopFuture<Metadata>
    let outcomeFuture: EventLoopFuture<Outcome>

    /// Sends one request message; suspends while much output is queued.
    public func send(_ message: ByteBuffer) async throws {
        let channel = self.channel
        let id = streamID
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            channel.eventLoop.execute {
                guard let handler = try? channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
                else {
                    continuation.resume(throwing: GRPCStatus(code: .unavailable, message: "connection closed"))
                    return
                }
                handler.send(streamID: id, message: message, continuation: continuation)
            }
        }
    }

    /// Half-closes: no more request messages.
    public func closeSend() {
        let channel = self.channel
        let id = streamID
        channel.eventLoop.execute {
            try? channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self).closeSend(streamID: id)
        }
    }

    /// Cancels the call: sends RST_STREAM(CANCEL); the outcome becomes CANCELLED.
    public func cancel() {
        let channel = self.channel
        let id = streamID
        channel.eventLoop.execute {
            try? channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
                .cancel(streamID: id, status: GRPCStatus(code: .cancelled, message: "context canceled"))
        }
    }

    /// The response headers (empty for a trailers-only response).
    public func headers() async throws -> Metadata {
        try await headersFuture.get()
    }

    /// Waits for the call to end.
    public func outcome() async -> Outcome {
        // The promise is always succeeded, never failed.
        (try? await outcomeFuture.get())
            ?? Outcome(status: GRPCStatus(code: .unknown, message: "no outcome"), trailers: Metadata())
    }
}
