import CNghttp2
import NIOCore

// MARK: - Plain HTTP streams (see PlainStreamBridge)

extension ServerConnectionHandler {
    func plainResponseHead(streamID: Int32, headers: HeaderBlock) {
        guard let call = calls[streamID], case .plain = call.phase, !call.headersSent, let session else { return }
        call.headersSent = true
        session.submitResponse(streamID: streamID, headers: headers, hasData: true)
        scheduleFlush()
    }

    /// Queues response bytes; true when the stream holds so much that the bridge should stop reading.
    func plainResponseBody(streamID: Int32, _ body: ByteBuffer) -> Bool {
        guard let call = calls[streamID], case .plain = call.phase, let session else { return false }
        var body = body
        call.pending.writeBuffer(&body)
        if call.deferred {
            call.deferred = false
            session.resumeData(streamID: streamID)
        }
        scheduleFlush()
        return call.pending.readableBytes >= configuration.responseHighWaterMark
    }

    func plainResponseEnd(streamID: Int32, trailers: HeaderBlock?) {
        guard let call = calls[streamID], case .plain = call.phase, let session else { return }
        call.phase = .finished
        call.bridge = nil
        if let trailers { call.trailers = trailers } else { call.plainEnded = true }
        if call.deferred {
            call.deferred = false
            session.resumeData(streamID: streamID)
        }
        scheduleFlush()
    }

    /// The HTTP side went away before its response ended.
    func plainResponseFailed(streamID: Int32) {
        guard let call = calls[streamID], case .plain = call.phase, let session else { return }
        call.phase = .finished
        call.bridge = nil
        session.resetStream(streamID: streamID, errorCode: NGHTTP2_INTERNAL_ERROR.rawValue)
        scheduleFlush()
    }
}
