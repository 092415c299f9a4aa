import GRPC
import NIOCore
import NIOHTTP1

/// One HTTP request to the gateway and its response. Confined to the channel's event loop; handlers run
/// in tasks and come back to the loop to write.
public final class GatewayExchange {
    private let gateway: Gateway
    private let head: HTTPRequestHead
    private let context: ChannelHandlerContext
    private let done: () -> Void
    private let route: Route?
    private var handler: GRPCRouter.LocalHandler?
    private var problem: (HTTPResponseStatus, String)?

    /// Body bytes not yet decoded.
    private var body: [UInt8] = []
    private var bodyTooLarge = false
    private var ended = false
    // A streaming call's state.
    private var callContext: ServerContext?
    private var requests: AsyncThrowingStream<ByteBuffer, any Error>.Continuation?
    private var feeding = true
    private var task: Task<Void, Never>?
    private var headSent = false
    private var finished = false
    /// The call's stream slot under `--max-concurrent-streams` (see ``StreamSlots``).
    private enum Slot { case none, waiting(ticket: UInt64), held }
    private var slot = Slot.none
    /// What starts the call once a slot is free.
    private var startWhenGranted: (() -> Void)?

    init(gateway: Gateway, head: HTTPRequestHead, context: ChannelHandlerContext, done: @escaping () -> Void) {
        self.gateway = gateway
        self.head = head
        self.context = context
        self.done = done
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        route = Routes.route(for: path)
        if route == nil {
            problem = (.notFound, "Not Found\n")
        } else if head.method != .POST {
            problem = (.methodNotAllowed, "Method Not Allowed\n")
        }
    }

    private var isStreamingRequest: Bool {
        switch handler {
        case .bidiStreaming, .clientStreaming: true
        default: false
        }
    }

    /// Request body bytes as they arrive.
    public func receive(_ chunk: ByteBuffer) {
        guard problem == nil, !bodyTooLarge, feeding else { return }
        if body.count + chunk.readableBytes > bodyLimit {
            bodyTooLarge = true
            body = []
            return
        }
        body.append(contentsOf: chunk.readableBytesView)
        if callContext != nil || streamingRoute { feed(complete: false) }
    }

    /// JSON spells bytes in base64 and escapes text: allow the body a multiple of the message limit.
    private var bodyLimit: Int { gateway.maxMessageBytes * 4 + 4096 }

    /// The end of the request.
    public func end() {
        ended = true
        if let (status, text) = problem {
            writePlain(status, text)
            return
        }
        if bodyTooLarge {
            writeError(GRPCStatus(code: .resourceExhausted, message: "grpc: received message larger than max (\(bodyLimit) vs. \(gateway.maxMessageBytes))"),
                       afterCall: false)
            return
        }
        if streamingRoute {
            feed(complete: true)
            return
        }
        startUnary()
    }

    /// The connection closed: stop the handler.
    public func cancel() {
        finished = true
        callContext?.cancel()
        task?.cancel()
        requests?.finish(throwing: GRPCStatus(code: .cancelled, message: "context canceled"))
        requests = nil
        releaseSlot()
    }

    // MARK: - Stream slots

    /// Runs `start` (which starts the call) once the call has a stream slot: now, or when one frees.
    private func whenSlotFree(_ start: @escaping () -> Void) {
        guard let slots = gateway.slots else {
            start()
            return
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        switch slots.acquire(on: context.eventLoop, { bound.value.slotGranted() }) {
        case .granted:
            slot = .held
            start()
        case .waiting(let ticket):
            slot = .waiting(ticket: ticket)
            startWhenGranted = start
        }
    }

    private func slotGranted() {
        slot = .held
        let start = startWhenGranted
        startWhenGranted = nil
        if finished {
            releaseSlot()  // the client left while the slot was on its way
            return
        }
        start?()
    }

    private func releaseSlot() {
        switch slot {
        case .none:
            return
        case .held:
            slot = .none
            gateway.slots?.release()
        case .waiting(let ticket):
            // When the grant is on its way already, slotGranted gives the slot back.
            if gateway.slots?.withdraw(ticket) == true {
                slot = .none
                startWhenGranted = nil
            }
        }
    }

    // MARK: - Calls

    /// Whether the method takes a stream of requests (its body is read as it arrives).
    public var isStreamingRoute: Bool { streamingRoute }

    private var streamingRoute: Bool {
        guard problem == nil, let route else { return false }
        if handler == nil, case .success(let h) = gateway.router.localHandler(route.method) { handler = h }
        return isStreamingRequest
    }

    private func metadata() -> Metadata {
        var m = Metadata()
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if lower == "authorization" {
                // grpc-gateway passes it on as `authorization`; etcd reads the token from `token` too.
                m.add("authorization", value)
                m.add("token", value)
            } else if lower.hasPrefix("grpc-metadata-"), lower.count > "grpc-metadata-".count {
                m.add(String(lower.dropFirst("grpc-metadata-".count)), value)
            }
        }
        return m
    }

    private func makeContext() -> ServerContext {
        ServerContext(localPath: route!.method, metadata: metadata(), remoteAddress: context.channel.remoteAddress)
    }

    private func startUnary() {
        guard let route else { return }
        let message: [UInt8]
        switch JSONParser.next(body, complete: true) {
        case .empty, .incomplete: message = []
        case .failure(let e):
            writeError(GRPCStatus(code: .invalidArgument, message: e.message), afterCall: false)
            return
        case .value(let v, _):
            switch ProtoJSONReader.protobuf(from: v, as: route.request.pointer) {
            case .failure(let e):
                writeError(GRPCStatus(code: .invalidArgument, message: e.message), afterCall: false)
                return
            case .success(let bytes): message = bytes
            }
        }
        body = []
        if message.count > gateway.maxMessageBytes {
            writeError(GRPCStatus(code: .resourceExhausted,
                                  message: "grpc: received message larger than max (\(message.count) vs. \(gateway.maxMessageBytes))"),
                       afterCall: true)
            return
        }
        let buffer = context.channel.allocator.buffer(bytes: message)
        let callContext = makeContext()
        self.callContext = callContext
        whenSlotFree { [self] in
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            switch gateway.router.localHandler(route.method) {
            case .failure(let status):
                writeError(status, afterCall: true)
            case .success(.unary(let h)):
                task = Self.run(bound) { () async throws -> ByteBuffer in try await h(buffer, callContext) }
            case .success(.serverStreaming(let h)):
                let responses = Self.responses(callContext, bound)
                task = Self.run(bound) { () async throws -> ByteBuffer? in
                    try await h(buffer, responses, callContext)
                    return nil
                }
            case .success(.clientStreaming), .success(.bidiStreaming):
                break  // served by feed()
            }
        }
    }

    /// Decodes the JSON objects the body holds so far and hands them to the streaming call, which
    /// starts with the first one. As grpc-gateway: the first object failing to decode fails the
    /// request; a later one only stops reading the body.
    private func feed(complete: Bool) {
        guard let route, feeding else { return }
        while feeding {
            let step = JSONParser.next(body, complete: complete)
            switch step {
            case .incomplete:
                return
            case .empty:
                body = []
                if complete {
                    // The body is over: the gateway half-closes the call, as grpc-gateway's CloseSend.
                    feeding = false
                    if callContext == nil { startStream(first: nil) }
                    requests?.finish()
                    requests = nil
                }
                return
            case .failure(let e):
                feedFailed(e)
                return
            case .value(let v, let consumed):
                body.removeFirst(consumed)
                switch ProtoJSONReader.protobuf(from: v, as: route.request.pointer) {
                case .failure(let e):
                    feedFailed(e)
                    return
                case .success(let bytes):
                    let message = context.channel.allocator.buffer(bytes: bytes)
                    if callContext == nil { startStream(first: message) } else { requests?.yield(message) }
                }
            }
        }
    }

    private func feedFailed(_ error: JSONError) {
        feeding = false
        body = []
        if callContext == nil {
            // grpc-gateway returns the decoder's error as is: Unknown, 500.
            writeError(GRPCStatus(code: .unknown, message: error.message), afterCall: false)
        } else {
            // A later object that does not decode ends what the client sends, not the call.
            requests?.finish()
            requests = nil
        }
    }

    private func startStream(first: ByteBuffer?) {
        guard let route else { return }
        let callContext = makeContext()
        self.callContext = callContext
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        if let first { continuation.yield(first) }
        requests = continuation
        // Messages that arrive while the call waits for a slot queue in the request stream.
        whenSlotFree { [self] in
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let responses = Self.responses(callContext, bound)
            let requestStream = RequestStream(local: stream)
            switch gateway.router.localHandler(route.method) {
            case .success(.bidiStreaming(let h)), .success(.clientStreaming(let h)):
                task = Self.run(bound) { () async throws -> ByteBuffer? in
                    try await h(requestStream, responses, callContext)
                    return nil
                }
            case .failure(let status):
                writeError(status, afterCall: true)
            default:
                break
            }
        }
    }

    /// A response stream that writes to this exchange on its event loop.
    private static func responses(_ context: ServerContext, _ bound: NIOLoopBound<GatewayExchange>) -> ResponseStream {
        ResponseStream(local: context) { messages in
            try await bound.eventLoop.flatSubmit { bound.value.writeResults(messages) }.get()
        }
    }

    /// Runs a unary handler (whose answer comes back) in a task and reports to the exchange on its loop.
    private static func run(_ bound: NIOLoopBound<GatewayExchange>,
                            _ body: @escaping @Sendable () async throws -> ByteBuffer) -> Task<Void, Never> {
        Task {
            let result: Result<ByteBuffer, GRPCStatus>
            do { result = .success(try await body()) } catch { result = .failure(status(error)) }
            bound.eventLoop.execute { bound.value.unaryDone(result) }
        }
    }

    /// Runs a streaming handler (which sends its own answers) in a task; reports how it ended.
    private static func run(_ bound: NIOLoopBound<GatewayExchange>,
                            _ body: @escaping @Sendable () async throws -> ByteBuffer?) -> Task<Void, Never> {
        Task {
            let failure: GRPCStatus?
            do {
                _ = try await body()
                failure = nil
            } catch {
                failure = status(error)
            }
            bound.eventLoop.execute { bound.value.streamDone(failure) }
        }
    }

    private static func status(_ error: any Error) -> GRPCStatus {
        if let s = error as? GRPCStatus { return s }
        if error is CancellationError { return GRPCStatus(code: .cancelled, message: "context canceled") }
        return GRPCStatus(code: .unknown, message: "\(error)")
    }

    // MARK: - Responses (on the event loop)

    private func unaryDone(_ result: Result<ByteBuffer, GRPCStatus>) {
        guard !finished else { return }
        switch result {
        case .failure(let status):
            writeError(status, afterCall: true)
        case .success(let response):
            guard let route, let json = response.withUnsafeReadableBytes({
                ProtoJSONWriter.json(fromProtobuf: $0, as: route.response.pointer)
            }) else {
                writeError(GRPCStatus(code: .internal, message: "grpc: failed to unmarshal the received message"), afterCall: true)
                return
            }
            var headers = baseHeaders()
            headers.add(name: "Grpc-Metadata-Content-Type", value: "application/grpc")
            headers.add(name: "Content-Length", value: String(json.count))
            write(.ok, headers, body: json, trailers: nil)
        }
    }

    /// Writes stream messages, each as `{"result":...}` and a newline; the future completes once they
    /// are flushed, which paces the handler to the client.
    private func writeResults(_ messages: [ByteBuffer]) -> EventLoopFuture<Void> {
        guard !finished, let route else {
            return context.eventLoop.makeFailedFuture(GRPCStatus(code: .cancelled, message: "context canceled"))
        }
        if !headSent {
            headSent = true
            var headers = baseHeaders()
            headers.add(name: "Grpc-Metadata-Content-Type", value: "application/grpc")
            context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))),
                          promise: nil)
        }
        var w = JSONWriter()
        for m in messages {
            w.raw("{\"result\":")
            let ok = m.withUnsafeReadableBytes { ProtoJSONWriter.append($0, as: route.response.pointer, to: &w) }
            if !ok { w.raw("{}") }
            w.raw("}\n")
        }
        let buffer = context.channel.allocator.buffer(bytes: w.bytes)
        return context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))))
    }

    private func streamDone(_ failure: GRPCStatus?) {
        guard !finished else { return }
        requests?.finish()
        requests = nil
        if !headSent {
            if let failure {
                writeError(failure, afterCall: true)
            } else {
                var headers = baseHeaders()
                headers.add(name: "Grpc-Metadata-Content-Type", value: "application/grpc")
                write(.ok, headers, body: [], trailers: nil)
            }
            return
        }
        if let failure {
            let buffer = context.channel.allocator.buffer(bytes: ErrorBodies.stream(failure))
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        }
        complete(trailers: nil)
    }

    private func baseHeaders() -> HTTPHeaders {
        var headers = HTTPHeaders()
        gateway.access.addCORS(to: &headers, origin: head.headers.first(name: "Origin"))
        headers.add(name: "Content-Type", value: "application/json")
        return headers
    }

    /// grpc-gateway's error answer. After a call the status came with gRPC trailers, which it announces
    /// and forwards as HTTP trailers; a request that never reached a call has a plain body.
    private func writeError(_ status: GRPCStatus, afterCall: Bool) {
        let json = ErrorBodies.unary(status)
        var headers = baseHeaders()
        if afterCall {
            headers.add(name: "Trailer", value: "Grpc-Trailer-Content-Type")
            var trailers = HTTPHeaders()
            trailers.add(name: "Grpc-Trailer-Content-Type", value: "application/grpc")
            write(status.code.httpStatus, headers, body: json, trailers: trailers)
        } else {
            headers.add(name: "Content-Length", value: String(json.count))
            write(status.code.httpStatus, headers, body: json, trailers: nil)
        }
    }

    /// Go's http.Error: a text body.
    private func writePlain(_ status: HTTPResponseStatus, _ text: String) {
        var headers = HTTPHeaders()
        gateway.access.addCORS(to: &headers, origin: head.headers.first(name: "Origin"))
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        write(status, headers, body: Array(text.utf8), trailers: nil)
    }

    private func write(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, body: [UInt8], trailers: HTTPHeaders?) {
        guard !finished, !headSent else { return }
        headSent = true
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        if !body.isEmpty {
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))),
                          promise: nil)
        }
        complete(trailers: trailers)
    }

    /// Ends the response. A request whose body has not all arrived cannot keep the connection.
    private func complete(trailers: HTTPHeaders?) {
        finished = true
        cancelCall()
        releaseSlot()
        let close = !head.isKeepAlive || !ended
        let context = self.context
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(trailers))).whenComplete { _ in
            if close { context.close(promise: nil) }
        }
        done()
    }

    private func cancelCall() {
        requests?.finish()
        requests = nil
    }
}
