import CNghttp2
import NIOCore

/// One client-side call's state. Loop-confined.
final class ClientCall {
    let id: Int32
    var pending: ByteBuffer
    var endRequested = false
    var deferred = false
    var deframer: MessageDeframer
    var block: [(String, String)] = []
    var gotHeaders = false
    var httpStatus = ""
    var status: GRPCStatus?
    var trailers = Metadata()
    var responses: AsyncThrowingStream<ByteBuffer, any Error>.Continuation
    let headersPromise: EventLoopPromise<Metadata>
    let statusPromise: EventLoopPromise<GRPCClientCall.Outcome>
    var timer: Scheduled<Void>?
    var waiters: [CheckedContinuation<Void, any Error>] = []

    init(id: Int32, allocator: ByteBufferAllocator, maxMessageSize: Int, eventLoop: any EventLoop,
         responses: AsyncThrowingStream<ByteBuffer, any Error>.Continuation) {
        self.id = id
        self.pending = allocator.buffer(capacity: 0)
        self.deframer = MessageDeframer(maxMessageSize: maxMessageSize)
        self.responses = responses
        self.headersPromise = eventLoop.makePromise()
        self.statusPromise = eventLoop.makePromise()
    }
}

/// The client side of one HTTP/2 connection (for tests and tools). Not `Sendable`: loop-confined.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var session: NGHTTP2Session?
    private var context: ChannelHandlerContext?
    private var loopBound: NIOLoopBound<ClientConnectionHandler>?
    private var calls: [Int32: ClientCall] = [:]
    private var allocator = ByteBufferAllocator()
    private var inReadBurst = false
    private var flushScheduled = false
    private var closed = false
    let maxMessageSize: Int
    let authority: String

    init(authority: String, maxMessageSize: Int) {
        self.authority = authority
        self.maxMessageSize = maxMessageSize
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        allocator = context.channel.allocator
        loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        session = NGHTTP2Session(server: false, delegate: self, settings: .init())
        if context.channel.isActive { flush() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Breaks the handler -> loopBound -> handler cycle.
        self.loopBound = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        flush()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        let all = calls
        calls = [:]
        for (_, call) in all {
            complete(call, status: GRPCStatus(code: .unavailable, message: "connection closed"))
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session, !closed else { return }
        let bytes = unwrapInboundIn(data)
        inReadBurst = true
        if !bytes.withUnsafeReadableBytes({ session.receive($0) }) {
            inReadBurst = false
            flush()
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBurst = false
        flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { flush() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func flush() {
        flushScheduled = false
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
        if !ok || !session.isAlive { context.close(promise: nil) }
    }

    private func scheduleFlush() {
        guard !inReadBurst, !flushScheduled, let loopBound else { return }
        flushScheduled = true
        loopBound.eventLoop.execute { loopBound.value.flush() }
    }

    // MARK: calls

    /// Starts a call; `messages` are sent at once and `end` half-closes after them.
    func start(path: String, metadata: Metadata, timeout: TimeAmount?, messages: [ByteBuffer], end: Bool,
               responses: AsyncThrowingStream<ByteBuffer, any Error>.Continuation)
        -> Result<(Int32, EventLoopFuture<Metadata>, EventLoopFuture<GRPCClientCall.Outcome>), GRPCStatus>
    {
        guard let session, let context, !closed else {
            return .failure(GRPCStatus(code: .unavailable, message: "connection closed"))
        }
        var block = HeaderBlock()
        block.add(":method", "POST")
        block.add(":scheme", "http")
        block.add(":path", path)
        block.add(":authority", authority)
        block.add("content-type", "application/grpc")
        block.add("te", "trailers")
        if let timeout { block.add("grpc-timeout", GRPCTimeout.format(nanoseconds: timeout.nanoseconds)) }
        block.add(metadata)
        let id = session.submitRequest(headers: block)
        guard id > 0 else { return .failure(GRPCStatus(code: .unavailable, message: "cannot open stream (\(id))")) }
        let call = ClientCall(id: id, allocator: allocator, maxMessageSize: maxMessageSize,
                              eventLoop: context.eventLoop, responses: responses)
        for m in messages { call.pending.writeGRPCMessage(m) }
        call.endRequested = end
        calls[id] = call
        if let timeout, let loopBound {
            // A second of grace lets the server's own DEADLINE_EXCEEDED arrive first.
            call.timer = context.eventLoop.scheduleTask(in: timeout + .seconds(1)) {
                loopBound.value.cancel(streamID: id, status: GRPCStatus(code: .deadlineExceeded,
                                                                         message: "context deadline exceeded"))
            }
        }
        scheduleFlush()
        return .success((id, call.headersPromise.futureResult, call.statusPromise.futureResult))
    }

    func send(streamID: Int32, message: ByteBuffer, continuation: CheckedContinuation<Void, any Error>) {
        guard let call = calls[streamID], !call.endRequested, let session else {
            continuation.resume(throwing: GRPCStatus(code: .cancelled, message: "call is over"))
            return
        }
        call.pending.writeGRPCMessage(message)
        if call.deferred {
            call.deferred = false
            session.resumeData(streamID: streamID)
        }
        if call.pending.readableBytes >= 1 << 20 {
            call.waiters.append(continuation)
        } else {
            continuation.resume()
        }
        scheduleFlush()
    }

    func closeSend(streamID: Int32) {
        guard let call = calls[streamID], !call.endRequested, let session else { return }
        call.endRequested = true
        if call.deferred {
            call.deferred = false
            session.resumeData(streamID: streamID)
        }
        scheduleFlush()
    }

    /// Resets the stream (RST_STREAM CANCEL) and ends the call with `status`.
    func cancel(streamID: Int32, status: GRPCStatus) {
        guard let call = calls.removeValue(forKey: streamID) else { return }
        session?.resetStream(streamID: streamID, errorCode: NGHTTP2_CANCEL.rawValue)
        complete(call, status: status)
        scheduleFlush()
    }

    private func complete(_ call: ClientCall, status: GRPCStatus) {
        call.timer?.cancel()
        call.timer = nil
        let final = call.status ?? status
        if final.code == .ok {
            call.responses.finish()
        } else {
            call.responses.finish(throwing: final)
        }
        if !call.gotHeaders {
            call.gotHeaders = true
            call.headersPromise.succeed(Metadata())
        }
        call.statusPromise.succeed(GRPCClientCall.Outcome(status: final, trailers: call.trailers))
        let w = call.waiters
        call.waiters = []
        for c in w { c.resume(throwing: final) }
    }

    private static func status(httpStatus: String) -> GRPCStatus {
        let code: GRPCStatus.Code
        switch httpStatus {
        case "400": code = .internal
        case "401": code = .unauthenticated
        case "403": code = .permissionDenied
        case "404": code = .unimplemented
        case "429", "502", "503", "504": code = .unavailable
        default: code = .unknown
        }
        return GRPCStatus(code: code, message: "unexpected HTTP status code received from server: \(httpStatus)")
    }
}

@available(*, unavailable)
extension ClientConnectionHandler: Sendable {}

extension ClientConnectionHandler: NGHTTP2SessionDelegate {
    func sessionBeginHeaders(streamID: Int32) {
        calls[streamID]?.block = []
    }

    func sessionHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        calls[streamID]?.block.append(
            (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }

    func sessionHeadersComplete(streamID: Int32, endStream: Bool) {
        guard let call = calls[streamID] else { return }
        var metadata = Metadata()
        var grpcStatus: String?
        var grpcMessage = ""
        for (name, value) in call.block {
            switch name {
            case ":status": call.httpStatus = value
            case "grpc-status": grpcStatus = value
            case "grpc-message": grpcMessage = GRPCStatus.percentDecode(value)
            case "content-type", "grpc-encoding", "grpc-accept-encoding": break
            default: if !name.hasPrefix(":") { metadata.appendWire(name: name, value: value) }
            }
        }
        call.block = []
        if !call.gotHeaders && !endStream {
            call.gotHeaders = true
            call.headersPromise.succeed(metadata)
            return
        }
        // Trailers, or a trailers-only response.
        call.trailers = metadata
        if let grpcStatus, let code = Int(grpcStatus) {
            call.status = GRPCStatus(code: GRPCStatus.Code(rawValue: code), message: grpcMessage)
        } else if !call.httpStatus.isEmpty && call.httpStatus != "200" {
            call.status = Self.status(httpStatus: call.httpStatus)
        } else {
            call.status = GRPCStatus(code: .internal, message: "server closed the stream without sending trailers")
        }
    }

    func sessionData(streamID: Int32, bytes: UnsafeRawBufferPointer) {
        guard let call = calls[streamID] else { return }
        do {
            try call.deframer.consume(bytes, allocator: allocator) { call.responses.yield($0) }
        } catch {
            let status: GRPCStatus
            switch error {
            case .compressed: status = GRPCStatus(code: .internal, message: "grpc: compressed response")
            case .tooLarge(let length, let limit):
                status = GRPCStatus(code: .resourceExhausted,
                                    message: "grpc: received message larger than max (\(length) vs. \(limit))")
            }
            cancel(streamID: streamID, status: status)
        }
    }

    func sessionDataEnd(streamID: Int32) {
        guard let call = calls[streamID], call.status == nil else { return }
        call.status = GRPCStatus(code: .internal, message: "server closed the stream without sending trailers")
    }

    func sessionStreamClosed(streamID: Int32, errorCode: UInt32) {
        guard let call = calls.removeValue(forKey: streamID) else { return }
        let status: GRPCStatus
        switch errorCode {
        case NGHTTP2_NO_ERROR.rawValue:
            status = GRPCStatus(code: .internal, message: "stream closed without status")
        case NGHTTP2_REFUSED_STREAM.rawValue:
            status = GRPCStatus(code: .unavailable, message: "stream refused by the server")
        case NGHTTP2_CANCEL.rawValue:
            status = GRPCStatus(code: .cancelled, message: "stream reset by the server")
        default:
            status = GRPCStatus(code: .internal, message: "stream terminated by RST_STREAM with error code: \(errorCode)")
        }
        complete(call, status: status)
    }

    func sessionReadData(streamID: Int32, buffer: UnsafeMutableRawBufferPointer, flags: inout UInt32) -> Int {
        guard let call = calls[streamID] else {
            flags |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        let n = min(call.pending.readableBytes, buffer.count)
        if n > 0 {
            call.pending.withUnsafeReadableBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            call.pending.moveReaderIndex(forwardBy: n)
            if call.pending.readableBytes == 0 { call.pending.clear() }
            if !call.waiters.isEmpty && call.pending.readableBytes < 1 << 19 {
                let w = call.waiters
                call.waiters = []
                for c in w { c.resume() }
            }
        }
        if call.pending.readableBytes == 0 {
            if call.endRequested {
                flags |= NGHTTP2_DATA_FLAG_EOF.rawValue
            } else if n == 0 {
                call.deferred = true
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
        }
        return n
    }

    func sessionSentEndStream(streamID: Int32) {}

    func sessionGoAway(lastStreamID: Int32, errorCode: UInt32) {}
}
