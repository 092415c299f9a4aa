import NIOCore

/// A stream of gRPC messages, one element per message. Iterate it once.
///
/// On the server (``RequestStream``) it finishes when the client half-closes and throws a ``GRPCStatus`` when
/// the call is cancelled. On the client it carries the responses and throws the call's status if not OK.
public struct MessageStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let base: AsyncThrowingStream<ByteBuffer, any Error>
    /// Told how many wire bytes each message took once the reader has it (drives the stream's receive window).
    let onRead: (@Sendable (Int) -> Void)?

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator
        let onRead: (@Sendable (Int) -> Void)?

        public mutating func next() async throws -> ByteBuffer? {
            let message = try await base.next()
            if let message, let onRead { onRead(message.readableBytes + 5) }
            return message
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), onRead: onRead)
    }
}

extension MessageStream {
    /// A request stream fed by an in-process caller (the JSON gateway).
    public init(local messages: AsyncThrowingStream<ByteBuffer, any Error>) {
        self.init(base: messages, onRead: nil)
    }
}

/// The messages a client streams to a server handler.
public typealias RequestStream = MessageStream

/// Sends a handler's response messages.
public struct ResponseStream: Sendable {
    /// Where the messages go: a connection's HTTP/2 stream, or an in-process caller.
    enum Sink: Sendable {
        case connection(NIOLoopBound<ServerConnectionHandler>, streamID: Int32)
        case local(@Sendable ([ByteBuffer]) async throws -> Void)
    }
    let sink: Sink
    let response: ResponseMetadata

    init(connection: NIOLoopBound<ServerConnectionHandler>, streamID: Int32, response: ResponseMetadata) {
        sink = .connection(connection, streamID: streamID)
        self.response = response
    }

    /// A stream whose messages go to `deliver`, for calling a handler without a connection (the JSON
    /// gateway); `deliver` throws to end the call, as a closed connection does.
    public init(local context: ServerContext, deliver: @escaping @Sendable ([ByteBuffer]) async throws -> Void) {
        sink = .local(deliver)
        response = context.response
    }

    /// Sends one message. Suspends while more than the configured high-water mark of this call's output is
    /// waiting for the peer's flow-control window; throws a ``GRPCStatus`` once the call is over (cancelled,
    /// reset, deadline passed, connection closed).
    public func send(_ message: ByteBuffer) async throws {
        switch sink {
        case .local(let deliver):
            try await deliver([message])
        case .connection(let connection, let id):
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                connection.eventLoop.execute {
                    connection.value.enqueue(streamID: id, message: message, continuation: continuation)
                }
            }
        }
    }

    /// Sends several messages with one hop to the connection's event loop; otherwise as `send(_:)`.
    public func send(contentsOf messages: [ByteBuffer]) async throws {
        guard let last = messages.last else { return }
        switch sink {
        case .local(let deliver):
            try await deliver(messages)
        case .connection(let connection, let id):
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                connection.eventLoop.execute {
                    connection.value.enqueue(streamID: id, messages: messages.dropLast(), last: last, continuation: continuation)
                }
            }
        }
    }

    /// Sets the response headers; they go out with the first message.
    public func setHeaders(_ headers: Metadata) { response.setHeaders(headers) }
    /// Adds custom trailing metadata, sent with the final status.
    public func setTrailers(_ trailers: Metadata) { response.setTrailers(trailers) }
}

/// One server-side call's state, owned by its connection's ``ServerConnectionHandler``. Loop-confined.
final class ServerCall {
    enum Phase {
        /// Request headers are still arriving.
        case headers
        /// Waiting for the single request message of a unary or server-streaming call.
        case awaitingMessage(GRPCRouter.Handler)
        /// A handler is running; request messages (if streaming) flow into `requests`.
        case running
        /// Not a gRPC call: served by the HTTP handlers through `bridge`.
        case plain
        /// The final status is decided; nothing more is read from the request.
        case finished
    }

    let id: Int32
    var phase = Phase.headers
    // Request headers.
    var path = ""
    var method = "POST"
    var contentType = ""
    var timeout: String?
    var encoding: String?
    var authority: String?
    var metadata = Metadata()
    var deframer: MessageDeframer
    // Running state.
    var requests: AsyncThrowingStream<ByteBuffer, any Error>.Continuation?
    /// Wire bytes of messages handed to `requests` that the handler has not read yet.
    var unread = 0
    /// Received bytes not yet returned to the peer's stream window because `unread` is too high.
    var owed = 0
    var task: Task<Void, Never>?
    var deadlineTask: Scheduled<Void>?
    var response: ResponseMetadata?
    /// The context of a unary or server-streaming call until its request message arrives.
    var context: ServerContext?
    // Output.
    var headersSent = false
    var pending: ByteBuffer
    var trailers: HeaderBlock?
    var deferred = false
    var waiters: [CheckedContinuation<Void, any Error>] = []
    // A plain HTTP stream (phase .plain).
    var bridge: PlainStreamBridge?
    /// The bridged response has ended without trailers: DATA ends the stream.
    var plainEnded = false
    // Accounting (nil when no observer is installed for the method).
    var observer: (any GRPCCallObserver)?
    var startedAt: UInt64 = 0

    init(id: Int32, maxMessageSize: Int, allocator: ByteBufferAllocator) {
        self.id = id
        self.deframer = MessageDeframer(maxMessageSize: maxMessageSize)
        self.pending = allocator.buffer(capacity: 0)
    }

    var isFinished: Bool {
        if case .finished = phase { return true }
        return false
    }

    /// Records one request header; pseudo and reserved headers are kept apart from the metadata.
    func addHeader(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let n = String(decoding: name, as: UTF8.self)
        let v = String(decoding: value, as: UTF8.self)
        switch n {
        case ":path": path = v
        case ":method": method = v
        case ":authority": authority = v
        case "content-type": contentType = v
        case "grpc-timeout": timeout = v
        case "grpc-encoding": encoding = v
        case "te", "grpc-accept-encoding", "grpc-message-type", "grpc-status", "grpc-message",
            "grpc-status-details-bin":
            break
        default:
            if !n.hasPrefix(":") { metadata.appendWire(name: n, value: v) }
        }
    }

    /// The request's headers for an HTTP/1.1 handler (what gRPC kept apart from the metadata aside).
    var plainHeaders: [(String, String)] {
        var headers: [(String, String)] = []
        if !contentType.isEmpty { headers.append(("content-type", contentType)) }
        metadata.wireHeaders(into: &headers)
        return headers
    }

    /// Ends the request side: cancels the handler and fails anything waiting on this call.
    func cancel(_ status: GRPCStatus) {
        bridge?.close()
        bridge = nil
        response?.markCancelled()
        task?.cancel()
        requests?.finish(throwing: status)
        requests = nil
        deadlineTask?.cancel()
        deadlineTask = nil
        let w = waiters
        waiters = []
        for c in w { c.resume(throwing: status) }
    }
}

extension GRPCStatus {
    /// The status to report for an error thrown by a handler.
    init(handlerError error: any Error) {
        if let status = error as? GRPCStatus {
            self = status
        } else if error is CancellationError {
            self = GRPCStatus(code: .cancelled, message: "context canceled")
        } else {
            self = GRPCStatus(code: .unknown, message: String(describing: error))
        }
    }
}
