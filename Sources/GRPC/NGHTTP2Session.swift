import CNghttp2
import NIOCore

/// Events an ``NGHTTP2Session`` reports while it parses input or produces output.
///
/// Every method is called synchronously from inside ``NGHTTP2Session/receive(_:)`` or
/// ``NGHTTP2Session/drainOutput(into:maxBytes:)``, on the owning event loop.
protocol NGHTTP2SessionDelegate: AnyObject {
    func sessionBeginHeaders(streamID: Int32)
    func sessionHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    func sessionHeadersComplete(streamID: Int32, endStream: Bool)
    func sessionData(streamID: Int32, bytes: UnsafeRawBufferPointer)
    /// A DATA frame carried END_STREAM: the peer has finished sending on this stream.
    func sessionDataEnd(streamID: Int32)
    func sessionStreamClosed(streamID: Int32, errorCode: UInt32)
    /// Fills `buffer` with outbound DATA for `streamID`; returns the byte count, or
    /// `NGHTTP2_ERR_DEFERRED` when nothing is ready yet. May set EOF flags and submit trailers.
    func sessionReadData(streamID: Int32, buffer: UnsafeMutableRawBufferPointer, flags: inout UInt32) -> Int
    /// A HEADERS frame with END_STREAM was written (the server's trailers).
    func sessionSentEndStream(streamID: Int32)
    func sessionGoAway(lastStreamID: Int32, errorCode: UInt32)
    /// The peer sent a PING (not an acknowledgement; nghttp2 acknowledges it).
    func sessionPingReceived()
    /// A HEADERS or DATA frame was written.
    func sessionSentHeadersOrData()
}

extension NGHTTP2SessionDelegate {
    func sessionPingReceived() {}
    func sessionSentHeadersOrData() {}
}

/// An HTTP/2 endpoint: a thin Swift owner of one `nghttp2_session`.
///
/// Input is fed with ``receive(_:)`` and output is pulled with ``drainOutput(into:maxBytes:)``; nghttp2 does
/// framing, HPACK, flow control, SETTINGS and PING acknowledgements. Not `Sendable`: confined to the event
/// loop of the connection it serves.
final class NGHTTP2Session {
    private(set) var session: OpaquePointer!
    unowned(unsafe) let delegate: any NGHTTP2SessionDelegate

    /// HTTP/2 settings and window sizes applied at start-up.
    struct Settings {
        var maxConcurrentStreams: UInt32 = 1000
        var initialWindowSize: UInt32 = 8 << 20
        var connectionWindowSize: Int32 = 64 << 20
        var maxFrameSize: UInt32 = 16384
        var maxHeaderListSize: UInt32 = 1 << 20
        /// When true the owner returns received bytes to the windows itself (``consume(streamID:connection:stream:)``).
        var manualWindowUpdates = false
    }

    init(server: Bool, delegate: any NGHTTP2SessionDelegate, settings: Settings) {
        self.delegate = delegate
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        Self.install(callbacks)
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        // Closed streams are not kept for priority bookkeeping; gRPC does not use priorities.
        nghttp2_option_set_no_closed_streams(option, 1)
        nghttp2_option_set_max_send_header_block_length(option, 1 << 20)
        if settings.manualWindowUpdates { nghttp2_option_set_no_auto_window_update(option, 1) }
        // grpc-go clients given an endpoint URL send it whole as :authority
        // ("http://localhost:2379"), which nghttp2's HTTP checks reset as PROTOCOL_ERROR while Go's
        // server accepts it. The server checks what gRPC needs itself (path, content-type, framing).
        if server { nghttp2_option_set_no_http_messaging(option, 1) }
        var s: OpaquePointer?
        let userData = Unmanaged.passUnretained(self).toOpaque()
        let rc = server
            ? nghttp2_session_server_new2(&s, callbacks, userData, option)
            : nghttp2_session_client_new2(&s, callbacks, userData, option)
        precondition(rc == 0 && s != nil, "nghttp2 session allocation failed: \(rc)")
        session = s
        var entries = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: settings.maxConcurrentStreams),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: settings.maxFrameSize),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
        ]
        if !server {
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        }
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindowSize)
    }

    deinit {
        nghttp2_session_del(session)
    }

    /// Feeds received bytes; returns false on a fatal error (bad preface, out of memory, callback failure).
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        let n = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        return n >= 0
    }

    /// Appends pending output frames to `buffer`, up to roughly `maxBytes`; returns false on a fatal error.
    func drainOutput(into buffer: inout ByteBuffer, maxBytes: Int = .max) -> Bool {
        var written = 0
        while written < maxBytes {
            var pointer: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &pointer)
            if n < 0 { return false }
            if n == 0 { break }
            buffer.writeBytes(UnsafeRawBufferPointer(start: pointer, count: n))
            written += n
        }
        return true
    }

    /// Whether the session still wants to read or write; when neither, the connection should close.
    var isAlive: Bool { nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0 }
    var wantsWrite: Bool { nghttp2_session_want_write(session) != 0 }

    /// Submits response (server) HEADERS; with `hasData` the body is pulled through the delegate.
    @discardableResult
    func submitResponse(streamID: Int32, headers: HeaderBlock, hasData: Bool) -> Int32 {
        headers.withNV { nva, count in
            if hasData {
                var provider = Self.dataProvider
                return nghttp2_submit_response(session, streamID, nva, count, &provider)
            }
            return nghttp2_submit_response(session, streamID, nva, count, nil)
        }
    }

    /// Submits a request (client) and returns its stream ID (negative on failure).
    func submitRequest(headers: HeaderBlock) -> Int32 {
        headers.withNV { nva, count in
            var provider = Self.dataProvider
            return nghttp2_submit_request(session, nil, nva, count, &provider, nil)
        }
    }

    /// Submits trailers; valid inside ``NGHTTP2SessionDelegate/sessionReadData`` after setting
    /// EOF | NO_END_STREAM.
    func submitTrailer(streamID: Int32, headers: HeaderBlock) {
        _ = headers.withNV { nva, count in nghttp2_submit_trailer(session, streamID, nva, count) }
    }

    /// Marks received DATA bytes as processed so that WINDOW_UPDATEs reopen the windows.
    func consume(streamID: Int32, connection: Int, stream: Int) {
        if connection > 0 { nghttp2_session_consume_connection(session, connection) }
        if stream > 0 { nghttp2_session_consume_stream(session, streamID, stream) }
    }

    func resumeData(streamID: Int32) {
        nghttp2_session_resume_data(session, streamID)
    }

    func resetStream(streamID: Int32, errorCode: UInt32) {
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode)
    }

    /// Sends GOAWAY naming the last stream this side has processed; later streams are refused.
    func submitGoAway(errorCode: UInt32, debugData: [UInt8] = []) {
        let last = nghttp2_session_get_last_proc_stream_id(session)
        debugData.withUnsafeBufferPointer {
            _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, errorCode, $0.baseAddress, $0.count)
        }
    }

    /// Sends a PING (its payload all zeros, as grpc-go's keepalive ping).
    func submitPing() {
        nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
    }

    /// Whether the peer has closed its side of `streamID`.
    func isRemoteClosed(streamID: Int32) -> Bool {
        nghttp2_session_get_stream_remote_close(session, streamID) == 1
    }

    private static let dataProvider = nghttp2_data_provider(
        source: nghttp2_data_source(ptr: nil),
        read_callback: { _, streamID, buf, length, flags, _, userData in
            let me = Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
            var f = flags!.pointee
            let n = me.delegate.sessionReadData(
                streamID: streamID, buffer: UnsafeMutableRawBufferPointer(start: buf, count: length), flags: &f)
            flags!.pointee = f
            return n
        })

    private static func install(_ callbacks: OpaquePointer?) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            let me = Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
            let hd = frame!.pointee.hd
            if hd.type == UInt8(NGHTTP2_HEADERS.rawValue) {
                me.delegate.sessionBeginHeaders(streamID: hd.stream_id)
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) {
            _, frame, name, nameLength, value, valueLength, _, userData in
            let me = Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
            let hd = frame!.pointee.hd
            if hd.type == UInt8(NGHTTP2_HEADERS.rawValue) {
                me.delegate.sessionHeader(
                    streamID: hd.stream_id, name: UnsafeRawBufferPointer(start: name, count: nameLength),
                    value: UnsafeRawBufferPointer(start: value, count: valueLength))
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            let me = Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
            let hd = frame!.pointee.hd
            let endStream = hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
            switch UInt32(hd.type) {
            case NGHTTP2_HEADERS.rawValue:
                me.delegate.sessionHeadersComplete(streamID: hd.stream_id, endStream: endStream)
            case NGHTTP2_DATA.rawValue:
                if endStream { me.delegate.sessionDataEnd(streamID: hd.stream_id) }
            case NGHTTP2_GOAWAY.rawValue:
                let g = frame!.pointee.goaway
                me.delegate.sessionGoAway(lastStreamID: g.last_stream_id, errorCode: g.error_code)
            case NGHTTP2_PING.rawValue:
                if hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 { me.delegate.sessionPingReceived() }
            default:
                break
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) {
            _, _, streamID, data, length, userData in
            let me = Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
            me.delegate.sessionData(streamID: streamID, bytes: UnsafeRawBufferPointer(start: data, count: length))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, userData in
            let me = Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
            me.delegate.sessionStreamClosed(streamID: streamID, errorCode: errorCode)
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            let me = Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
            let hd = frame!.pointee.hd
            if hd.type == UInt8(NGHTTP2_HEADERS.rawValue) || hd.type == UInt8(NGHTTP2_DATA.rawValue) {
                me.delegate.sessionSentHeadersOrData()
            }
            if hd.type == UInt8(NGHTTP2_HEADERS.rawValue), hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 {
                me.delegate.sessionSentEndStream(streamID: hd.stream_id)
            }
            return 0
        }
    }
}

/// A list of header fields ready to hand to nghttp2: names and values packed in one byte array.
struct HeaderBlock {
    private var bytes: [UInt8] = []
    private var fields: [(nameStart: Int, nameCount: Int, valueCount: Int)] = []

    init() {
        bytes.reserveCapacity(128)
    }

    init(_ pairs: [(String, String)]) {
        self.init()
        for (n, v) in pairs { add(n, v) }
    }

    mutating func add(_ name: String, _ value: String) {
        let start = bytes.count
        bytes.append(contentsOf: name.utf8)
        let nameCount = bytes.count - start
        bytes.append(contentsOf: value.utf8)
        fields.append((start, nameCount, bytes.count - start - nameCount))
    }

    mutating func add(_ metadata: Metadata) {
        for (name, value) in metadata {
            switch value {
            case .string(let s): add(name, s)
            case .binary(let b): add(name, Base64.encode(b))
            }
        }
    }

    func withNV<R>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        bytes.withUnsafeBufferPointer { buf in
            // nghttp2 copies names and values and never writes through these pointers; its struct just
            // declares them non-const.
            let base = UnsafeMutablePointer(mutating: buf.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            return withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: max(fields.count, 1)) { nva in
                for (i, f) in fields.enumerated() {
                    nva[i] = nghttp2_nv(
                        name: base + f.nameStart, value: base + f.nameStart + f.nameCount,
                        namelen: f.nameCount, valuelen: f.valueCount, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
                }
                return body(UnsafePointer(nva.baseAddress!), fields.count)
            }
        }
    }
}
