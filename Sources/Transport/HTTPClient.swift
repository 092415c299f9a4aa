// A minimal HTTP/1.1 client for peer requests: one request per connection (pipeline posts,
// snapshots, lease forwarding, probes). Streams use their own handler (StreamReader.swift).
import NIOCore
import NIOHTTP1
import NIOPosix
import TLS

#if canImport(Glibc)
import Glibc
#endif

public enum TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    case connectionClosed
    case timeout
    case responseTooLarge
    case noPeerURL
    case unsupportedScheme(String)
    case stopped
    case file(String)
    case http(status: Int, body: String)

    public var description: String {
        switch self {
        case .connectionClosed: return "connection closed before the response ended"
        case .timeout: return "i/o timeout"
        case .responseTooLarge: return "response too large"
        case .noPeerURL: return "no usable peer URL"
        case .unsupportedScheme(let s): return "unsupported URL scheme \(s) (https needs --peer-cert-file and --peer-key-file, or --peer-auto-tls)"
        case .stopped: return "stopped"
        case .file(let s): return s
        case .http(let status, let body): return "unexpected status \(status): \(body)"
        }
    }
}

struct HTTPClientResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
}

enum RequestBody: Sendable {
    case none
    case bytes(ByteBuffer)
    /// A framed message followed by a file's bytes (the snapshot POST).
    case prefixedFile(ByteBuffer, path: String, size: Int)
}

enum PeerHTTPClient {
    /// Connects to `url`; an https URL gets the peer TLS client handler first (its handshake
    /// errors reach the handlers `initializer` adds).
    static func connect(url: PeerURL, on loop: any EventLoop, timeout: TimeAmount, tls: TLSEndpoint?,
                        initializer: @escaping @Sendable (Channel) throws -> Void) -> EventLoopFuture<Channel> {
        let secure = url.isSecure
        guard !secure || tls != nil else {
            return loop.makeFailedFuture(TransportError.unsupportedScheme(url.scheme))
        }
        var bootstrap = ClientBootstrap(group: loop).connectTimeout(timeout)
        if url.socketPath == nil { bootstrap = bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1) }
        bootstrap = bootstrap
            .channelInitializer { channel in
                do {
                    if secure, let tls { try tls.addClientHandler(to: channel, host: url.host) }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try initializer(channel)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        if let path = url.socketPath { return bootstrap.connect(unixDomainSocketPath: path) }
        return bootstrap.connect(host: url.host, port: url.port)
    }

    static func head(method: HTTPMethod, url: PeerURL, path: String, headers: [(String, String)],
                     contentLength: Int?) -> HTTPRequestHead {
        var h = HTTPHeaders([("Host", url.authority)])
        for (k, v) in headers { h.add(name: k, value: v) }
        if let contentLength { h.add(name: "Content-Length", value: String(contentLength)) }
        return HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: h)
    }

    /// Sends one request and collects the answer. `timeout` runs from the end of the request body.
    static func request(on loop: any EventLoop, url: PeerURL, tls: TLSEndpoint?, method: HTTPMethod, path: String,
                        headers: [(String, String)], body: RequestBody, maxResponseBytes: Int = 1 << 20,
                        connectTimeout: TimeAmount, timeout: TimeAmount) -> EventLoopFuture<HTTPClientResponse> {
        let promise = loop.makePromise(of: HTTPClientResponse.self)
        let length: Int?
        switch body {
        case .none: length = method == .GET ? nil : 0
        case .bytes(let b): length = b.readableBytes
        case .prefixedFile(let p, _, let size): length = p.readableBytes + size
        }
        let requestHead = head(method: method, url: url, path: path, headers: headers, contentLength: length)
        connect(url: url, on: loop, timeout: connectTimeout, tls: tls) { channel in
            try channel.pipeline.syncOperations.addHandler(CollectingHandler(promise: promise, limit: maxResponseBytes))
        }.whenComplete { result in
            switch result {
            case .failure(let e):
                promise.fail(e)
            case .success(let channel):
                promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                channel.write(HTTPClientRequestPart.head(requestHead), promise: nil)
                let sent: EventLoopFuture<Void>
                switch body {
                case .none:
                    sent = channel.writeAndFlush(HTTPClientRequestPart.end(nil))
                case .bytes(let b):
                    channel.write(HTTPClientRequestPart.body(.byteBuffer(b)), promise: nil)
                    sent = channel.writeAndFlush(HTTPClientRequestPart.end(nil))
                case .prefixedFile(let prefix, let path, let size):
                    channel.write(HTTPClientRequestPart.body(.byteBuffer(prefix)), promise: nil)
                    sent = FileStreamer.stream(path: path, size: size, to: channel).flatMap {
                        channel.writeAndFlush(HTTPClientRequestPart.end(nil))
                    }
                }
                sent.whenComplete { r in
                    if case .failure(let e) = r { promise.fail(e); return }
                    let task = loop.scheduleTask(in: timeout) { promise.fail(TransportError.timeout) }
                    promise.futureResult.whenComplete { _ in task.cancel() }
                }
            }
        }
        return promise.futureResult
    }
}

/// Collects one response; fails on close before the end or past the size limit.
final class CollectingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let promise: EventLoopPromise<HTTPClientResponse>
    private let limit: Int
    private var response: HTTPClientResponse?
    private var done = false

    init(promise: EventLoopPromise<HTTPClientResponse>, limit: Int) {
        self.promise = promise
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            response = HTTPClientResponse(status: Int(h.status.code), headers: h.headers, body: [])
        case .body(var b):
            guard response != nil, (response?.body.count ?? 0) + b.readableBytes <= limit else {
                finish(.failure(TransportError.responseTooLarge), context)
                return
            }
            response!.body += b.readBytes(length: b.readableBytes) ?? []
        case .end:
            if let response { finish(.success(response), context) } else { finish(.failure(TransportError.connectionClosed), context) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(TransportError.connectionClosed), context)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(.failure(error), context)
    }

    private func finish(_ r: Result<HTTPClientResponse, Error>, _ context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        promise.completeWith(r)
        context.close(promise: nil)
    }
}

/// Streams a file into an HTTP request body in 1 MiB chunks, reading on NIO's blocking pool and
/// waiting for each write before reading the next (bounded memory, works over TLS later too).
enum FileStreamer {
    static let chunk = 1 << 20

    static func stream(path: String, size: Int, to channel: Channel) -> EventLoopFuture<Void> {
        let loop = channel.eventLoop
        return NIOThreadPool.singleton.runIfActive(eventLoop: loop) { () throws -> Int32 in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw TransportError.file("open \(path): errno \(errno)") }
            return fd
        }.flatMap { fd in
            let done = next(fd: fd, remaining: size, channel: channel)
            done.whenComplete { _ in close(fd) }
            return done
        }
    }

    private static func next(fd: Int32, remaining: Int, channel: Channel) -> EventLoopFuture<Void> {
        let loop = channel.eventLoop
        if remaining == 0 { return loop.makeSucceededVoidFuture() }
        let want = min(chunk, remaining)
        return NIOThreadPool.singleton.runIfActive(eventLoop: loop) { () throws -> ByteBuffer in
            var buffer = ByteBufferAllocator().buffer(capacity: want)
            var failed = false
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { ptr in
                let n = read(fd, ptr.baseAddress, want)
                failed = n <= 0
                return max(n, 0)
            }
            if failed { throw TransportError.file("snapshot file shorter than announced") }
            return buffer
        }.flatMap { buffer in
            let n = buffer.readableBytes
            return channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(buffer))).flatMap {
                next(fd: fd, remaining: remaining - n, channel: channel)
            }
        }
    }
}
