import CNghttp2
import NIOCore

/// Sent down a server connection's pipeline (`fireUserInboundEventTriggered`) to start a graceful shutdown:
/// GOAWAY goes out, running calls finish, then the connection closes.
public struct GRPCGracefulShutdownEvent: Sendable {
    public init() {}
}

/// The server side of one HTTP/2 connection carrying gRPC calls.
///
/// A thin shell over an ``NGHTTP2Session``: bytes in go to nghttp2, whose callbacks drive per-call state
/// (``ServerCall``); handlers run in their own tasks and hand results back with `eventLoop.execute`.
/// Output is drained once per read burst, or once per loop turn for results arriving from tasks.
/// Not `Sendable`: everything here lives on the channel's event loop.
public final class ServerConnectionHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    let table: GRPCRouter.Table
    let configuration: GRPCServerConfiguration
    var session: NGHTTP2Session?
    var context: ChannelHandlerContext?
    var loopBound: NIOLoopBound<ServerConnectionHandler>?
    var executor: EventLoopTaskExecutor?
    var calls: [Int32: ServerCall] = [:]
    var remoteAddress: SocketAddress?
    var peerCommonName: String?
    var allocator = ByteBufferAllocator()
    var inReadBurst = false
    var needsFlush = false
    var flushScheduled = false
    /// A handler task was started in the current read burst: its first job is queued on the loop.
    var startedCallInBurst = false
    var draining = false
    var closed = false
    var keepalive: ServerKeepalive
    var keepaliveTimer: Scheduled<Void>?
    /// A GOAWAY was queued during a read (too many pings): write it and close once the read ends.
    var closeAfterRead = false

    public init(router: GRPCRouter, configuration: GRPCServerConfiguration = GRPCServerConfiguration()) {
        self.table = router.snapshot()
        self.configuration = configuration
        self.keepalive = ServerKeepalive(options: configuration.keepalive, now: .now)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.allocator = context.channel.allocator
        self.remoteAddress = context.channel.remoteAddress
        self.peerCommonName = configuration.peerCertificateCommonName?(context.channel)
        self.loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        if configuration.runHandlersOnEventLoop { executor = EventLoopTaskExecutor(loop: context.eventLoop) }
        var settings = NGHTTP2Session.Settings()
        settings.maxConcurrentStreams = configuration.maxConcurrentStreams
        settings.initialWindowSize = configuration.initialWindowSize
        settings.connectionWindowSize = configuration.connectionWindowSize
        settings.manualWindowUpdates = true
        session = NGHTTP2Session(server: true, delegate: self, settings: settings)
        startKeepalive()
        if context.channel.isActive { flush() }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        teardown()
        // Breaks the handler -> loopBound -> handler cycle.
        self.context = nil
        self.loopBound = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        flush()
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        teardown()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session, !closed else { return }
        let bytes = unwrapInboundIn(data)
        inReadBurst = true
        keepalive.read(at: .now)
        let ok = bytes.withUnsafeReadableBytes { session.receive($0) }
        needsFlush = true
        if !ok || closeAfterRead {
            // A bad preface, a fatal protocol error or too many pings: say what nghttp2 queued
            // (GOAWAY), then close.
            inReadBurst = false
            flush()
            closeConnection()
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        inReadBurst = false
        if startedCallInBurst {
            // What nghttp2 queued while reading (a PING ack, window updates) goes out after the
            // handlers just started have run to their first wait: a put then reaches raft before
            // this connection's write, not after it.
            startedCallInBurst = false
            needsFlush = false
            scheduleFlush()
        } else if needsFlush {
            flush()
        }
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { flush() }
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is GRPCGracefulShutdownEvent {
            startDraining()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeConnection()
    }

    // MARK: output

    /// Writes everything nghttp2 has queued, while the channel stays writable; closes when the session is done.
    func flush() {
        flushScheduled = false
        needsFlush = false
        guard let context, let session, !closed, context.channel.isActive else { return }
        var wrote = false
        var ok = true
        while context.channel.isWritable {
            var buffer = allocator.buffer(capacity: 512)
            ok = session.drainOutput(into: &buffer, maxBytes: 1 << 20)
            if buffer.readableBytes == 0 { break }
            context.write(wrapOutboundOut(buffer), promise: nil)
            wrote = true
            if !ok { break }
        }
        if wrote { context.flush() }
        if !ok || !session.isAlive || (draining && calls.isEmpty && !session.wantsWrite) {
            closeConnection()
        }
    }

    /// Asks for a flush: at the end of the current read burst, or on the next loop turn.
    func scheduleFlush() {
        if inReadBurst {
            needsFlush = true
            return
        }
        guard !flushScheduled, let loopBound else { return }
        flushScheduled = true
        loopBound.eventLoop.execute { loopBound.value.flush() }
    }

    func closeConnection() {
        guard !closed, let context else { return }
        closed = true
        context.close(promise: nil)
        teardown()
    }

    func teardown() {
        closed = true
        keepaliveTimer?.cancel()
        keepaliveTimer = nil
        let all = calls
        calls = [:]
        for (_, call) in all where !call.isFinished {
            call.phase = .finished
            call.reportFinished(.cancelled)
            call.cancel(GRPCStatus(code: .cancelled, message: "connection closed"))
        }
        for (_, call) in all { call.deadlineTask?.cancel() }
    }

    func startDraining() {
        guard !draining, let session else { return }
        draining = true
        session.submitGoAway(errorCode: NGHTTP2_NO_ERROR.rawValue)
        flush()
    }

    // MARK: call lifecycle

    func start(_ call: ServerCall) {
        if !call.contentType.hasPrefix("application/grpc") {
            if let serve = configuration.plainHTTP, let context {
                call.phase = .plain
                let connection = context.channel
                call.bridge = PlainStreamBridge.start(call: call, connection: self, eventLoop: context.eventLoop,
                                                      serve: { serve($0, connection) })
                return
            }
            var block = HeaderBlock()
            block.add(":status", "415")
            block.add("content-type", "text/plain")
            session?.submitResponse(streamID: call.id, headers: block, hasData: false)
            call.headersSent = true
            call.phase = .finished
            return
        }
        if let encoding = call.encoding, encoding != "identity" {
            finish(call, GRPCStatus(code: .unimplemented,
                                    message: "grpc: Decompressor is not installed for grpc-encoding \"\(encoding)\""))
            return
        }
        guard let handler = table.methods[call.path] else {
            finish(call, GRPCRouter.unimplementedStatus(path: call.path, table: table))
            return
        }
        if let admit = table.admission, let refused = admit(call.path) {
            finish(call, refused)
            return
        }
        if !table.observers.isEmpty { call.observe(table.observers[call.path]) }
        var deadline: NIODeadline?
        if let timeout = call.timeout {
            guard let ns = GRPCTimeout.parse(timeout) else {
                finish(call, GRPCStatus(code: .internal, message: "transport: malformed grpc-timeout: \(timeout)"))
                return
            }
            let d = NIODeadline.now() + .nanoseconds(ns)
            deadline = d
            if let loopBound {
                let id = call.id
                call.deadlineTask = loopBound.eventLoop.scheduleTask(deadline: d) {
                    loopBound.value.deadlineExpired(streamID: id)
                }
            }
        }
        let response = ResponseMetadata()
        call.response = response
        let context = ServerContext(
            path: call.path, requestMetadata: call.metadata, deadline: deadline, remoteAddress: remoteAddress,
            authority: call.authority, peerCertificateCommonName: peerCommonName, response: response)
        call.metadata = Metadata()
        switch handler {
        case .unary, .serverStreaming:
            call.phase = .awaitingMessage(handler)
            call.context = context
        case .clientStreaming(let h), .bidiStreaming(let h):
            let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
            call.requests = continuation
            call.phase = .running
            let id = call.id
            let bound = loopBound!
            let requests = RequestStream(base: stream, onRead: { bytes in
                bound.eventLoop.execute { bound.value.requestRead(streamID: id, bytes: bytes) }
            })
            let responses = ResponseStream(connection: loopBound!, streamID: call.id, response: response)
            spawn(call) { try await h(requests, responses, context) }
        }
    }

    func received(_ message: ByteBuffer, on call: ServerCall) {
        switch call.phase {
        case .awaitingMessage(let handler):
            call.phase = .running
            call.observer?.received(bytes: message.readableBytes)
            guard let context = call.context, let loopBound else { return }
            call.context = nil
            startedCallInBurst = true
            let id = call.id
            switch handler {
            case .unary(let h):
                call.task = startTask { @Sendable in
                    let result: Result<ByteBuffer, any Error>
                    do {
                        result = .success(try await h(message, context))
                    } catch {
                        result = .failure(error)
                    }
                    if loopBound.eventLoop.inEventLoop {
                        loopBound.value.unaryDone(streamID: id, result: result)
                    } else {
                        loopBound.eventLoop.execute { loopBound.value.unaryDone(streamID: id, result: result) }
                    }
                }
            case .serverStreaming(let h):
                let responses = ResponseStream(connection: loopBound, streamID: id, response: context.response)
                spawn(call) { try await h(message, responses, context) }
            default:
                break
            }
        case .running:
            if let requests = call.requests {
                call.observer?.received(bytes: message.readableBytes)
                call.unread += message.readableBytes + 5
                requests.yield(message)
            }
        case .headers, .plain, .finished:
            break
        }
    }

    func spawn(_ call: ServerCall, _ body: @escaping @Sendable () async throws -> Void) {
        guard let loopBound else { return }
        let id = call.id
        call.task = startTask { @Sendable in
            let status: GRPCStatus
            do {
                try await body()
                status = .ok
            } catch {
                status = GRPCStatus(handlerError: error)
            }
            loopBound.eventLoop.execute { loopBound.value.streamingDone(streamID: id, status: status) }
        }
    }

    /// Starts a handler task, on the event loop's executor when so configured.
    func startTask(_ body: sending @escaping @isolated(any) () async -> Void) -> Task<Void, Never> {
        if let executor {
            return Task(executorPreference: executor, operation: body)
        }
        return Task(operation: body)
    }

    func requestEnded(_ call: ServerCall) {
        switch call.phase {
        case .awaitingMessage:
            call.context = nil
            finish(call, GRPCStatus(code: .internal, message: "grpc: no request message before end of stream"))
        case .running:
            if !call.deframer.isIdle {
                fail(call, GRPCStatus(code: .internal, message: "unexpected EOF"))
                return
            }
            call.requests?.finish()
            call.requests = nil
        case .plain:
            call.bridge?.requestEnded()
        case .headers, .finished:
            break
        }
    }

    /// A streaming handler has read a message: reopen the stream window if it was held back.
    func requestRead(streamID: Int32, bytes: Int) {
        guard let call = calls[streamID] else { return }
        call.unread -= bytes
        if call.owed > 0 && call.unread < configuration.requestBufferLimit {
            session?.consume(streamID: streamID, connection: 0, stream: call.owed)
            call.owed = 0
            scheduleFlush()
        }
    }

    func unaryDone(streamID: Int32, result: Result<ByteBuffer, any Error>) {
        guard let call = calls[streamID], !call.isFinished else { return }
        switch result {
        case .success(let message):
            call.observer?.sent(bytes: message.readableBytes)
            call.pending.writeGRPCMessage(message)
            finish(call, .ok)
        case .failure(let error):
            finish(call, GRPCStatus(handlerError: error))
        }
    }

    func streamingDone(streamID: Int32, status: GRPCStatus) {
        guard let call = calls[streamID], !call.isFinished else { return }
        finish(call, status)
    }

    func deadlineExpired(streamID: Int32) {
        guard let call = calls[streamID], !call.isFinished else { return }
        call.deadlineTask = nil
        fail(call, GRPCStatus(code: .deadlineExceeded, message: "context deadline exceeded"))
    }

    /// Ends a call early: cancels its handler, then sends `status`.
    func fail(_ call: ServerCall, _ status: GRPCStatus) {
        call.context = nil
        call.cancel(status)
        finish(call, status)
    }

    /// Decides the final status; trailers follow any output still queued.
    func finish(_ call: ServerCall, _ status: GRPCStatus) {
        guard !call.isFinished, let session else { return }
        call.phase = .finished
        call.reportFinished(status.code)
        call.deadlineTask?.cancel()
        call.deadlineTask = nil
        call.requests?.finish()
        call.requests = nil
        var trailers = HeaderBlock()
        if !call.headersSent && call.pending.readableBytes == 0 {
            // Trailers-only response: one HEADERS frame with END_STREAM.
            trailers.add(":status", "200")
            trailers.add("content-type", "application/grpc")
            if let headers = call.response?.headers { trailers.add(headers) }
        }
        trailers.add("grpc-status", String(status.code.rawValue))
        if !status.message.isEmpty { trailers.add("grpc-message", GRPCStatus.percentEncode(status.message)) }
        if let extra = call.response?.trailers, !extra.isEmpty { trailers.add(extra) }
        if !call.headersSent && call.pending.readableBytes == 0 {
            call.headersSent = true
            session.submitResponse(streamID: call.id, headers: trailers, hasData: false)
        } else {
            call.trailers = trailers
            if !call.headersSent {
                sendHeaders(call)
            } else if call.deferred {
                call.deferred = false
                session.resumeData(streamID: call.id)
            }
        }
        scheduleFlush()
    }

    func sendHeaders(_ call: ServerCall) {
        var block = HeaderBlock()
        block.add(":status", "200")
        block.add("content-type", "application/grpc")
        if let headers = call.response?.headers { block.add(headers) }
        call.headersSent = true
        session?.submitResponse(streamID: call.id, headers: block, hasData: true)
    }

    /// Queues one response message from ``ResponseStream/send(_:)``.
    func enqueue(streamID: Int32, message: ByteBuffer, continuation: CheckedContinuation<Void, any Error>) {
        enqueue(streamID: streamID, messages: [], last: message, continuation: continuation)
    }

    /// Queues response messages in order; `continuation` resumes as for the last one.
    func enqueue(streamID: Int32, messages: ArraySlice<ByteBuffer>, last: ByteBuffer,
                 continuation: CheckedContinuation<Void, any Error>) {
        guard let call = calls[streamID], !call.isFinished, let session else {
            continuation.resume(throwing: GRPCStatus(code: .cancelled, message: "call is over"))
            return
        }
        if let o = call.observer {
            for message in messages { o.sent(bytes: message.readableBytes) }
            o.sent(bytes: last.readableBytes)
        }
        for message in messages { call.pending.writeGRPCMessage(message) }
        call.pending.writeGRPCMessage(last)
        if !call.headersSent {
            sendHeaders(call)
        } else if call.deferred {
            call.deferred = false
            session.resumeData(streamID: streamID)
        }
        if call.pending.readableBytes >= configuration.responseHighWaterMark {
            call.waiters.append(continuation)
        } else {
            continuation.resume()
        }
        scheduleFlush()
    }
}

@available(*, unavailable)
extension ServerConnectionHandler: Sendable {}
