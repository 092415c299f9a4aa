import CNghttp2
import NIOCore

// nghttp2's callbacks for the server side: request headers and DATA in, response DATA out.
extension ServerConnectionHandler: NGHTTP2SessionDelegate {
    func sessionBeginHeaders(streamID: Int32) {
        if calls[streamID] == nil {
            calls[streamID] = ServerCall(
                id: streamID, maxMessageSize: configuration.maxReceiveMessageSize, allocator: allocator)
        }
    }

    func sessionHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard let call = calls[streamID], case .headers = call.phase else { return }
        call.addHeader(name: name, value: value)
    }

    func sessionHeadersComplete(streamID: Int32, endStream: Bool) {
        guard let call = calls[streamID] else { return }
        if case .headers = call.phase { start(call) }
        if endStream { requestEnded(call) }
    }

    func sessionData(streamID: Int32, bytes: UnsafeRawBufferPointer) {
        guard let session else { return }
        guard let call = calls[streamID] else {
            session.consume(streamID: streamID, connection: bytes.count, stream: bytes.count)
            return
        }
        // The connection window always reopens at once (as grpc-go does); a stream's window waits while its
        // handler has much unread input.
        if call.requests != nil && call.unread >= configuration.requestBufferLimit {
            session.consume(streamID: streamID, connection: bytes.count, stream: 0)
            call.owed += bytes.count
        } else {
            session.consume(streamID: streamID, connection: bytes.count, stream: bytes.count)
        }
        switch call.phase {
        case .awaitingMessage, .running: break
        case .plain:
            call.bridge?.requestBody(bytes)
            return
        default: return
        }
        do {
            try call.deframer.consume(bytes, allocator: allocator) { message in received(message, on: call) }
        } catch {
            switch error {
            case .compressed:
                fail(call, GRPCStatus(code: .internal,
                                      message: "grpc: compressed flag set with identity or empty encoding"))
            case .tooLarge(let length, let limit):
                fail(call, GRPCStatus(code: .resourceExhausted,
                                      message: "grpc: received message larger than max (\(length) vs. \(limit))"))
            }
        }
    }

    func sessionDataEnd(streamID: Int32) {
        guard let call = calls[streamID] else { return }
        requestEnded(call)
    }

    func sessionStreamClosed(streamID: Int32, errorCode: UInt32) {
        guard let call = calls.removeValue(forKey: streamID) else { return }
        call.context = nil
        if !call.isFinished {
            call.phase = .finished
            call.cancel(GRPCStatus(code: .cancelled, message: "context canceled"))
        }
        call.deadlineTask?.cancel()
        if draining && calls.isEmpty { scheduleFlush() }
    }

    func sessionReadData(streamID: Int32, buffer: UnsafeMutableRawBufferPointer, flags: inout UInt32) -> Int {
        guard let call = calls[streamID] else {
            flags |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        var n = 0
        let available = call.pending.readableBytes
        if available > 0 {
            n = min(available, buffer.count)
            call.pending.withUnsafeReadableBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: n)
            }
            call.pending.moveReaderIndex(forwardBy: n)
            if call.pending.readableBytes == 0 { call.pending.clear() }
            if let bridge = call.bridge, bridge.paused, call.pending.readableBytes < configuration.responseHighWaterMark / 2 {
                bridge.resumeReading()
            }
            if !call.waiters.isEmpty && call.pending.readableBytes < configuration.responseHighWaterMark / 2 {
                let w = call.waiters
                call.waiters = []
                for c in w { c.resume() }
            }
        }
        if call.pending.readableBytes == 0 {
            if let trailers = call.trailers {
                call.trailers = nil
                flags |= NGHTTP2_DATA_FLAG_EOF.rawValue | NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                session?.submitTrailer(streamID: streamID, headers: trailers)
            } else if call.plainEnded {
                flags |= NGHTTP2_DATA_FLAG_EOF.rawValue
            } else if n == 0 {
                call.deferred = true
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
        }
        return n
    }

    func sessionSentEndStream(streamID: Int32) {
        // The response is complete; if the client is still sending, tell it to stop (as grpc-go does).
        guard let session, calls[streamID] != nil, session.isRemoteClosed(streamID: streamID) == false else { return }
        session.resetStream(streamID: streamID, errorCode: NGHTTP2_NO_ERROR.rawValue)
    }

    func sessionGoAway(lastStreamID: Int32, errorCode: UInt32) {}
}
