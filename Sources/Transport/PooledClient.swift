// Keep-alive connections for small request/response exchanges with peers (lease forwarding),
// as Go's http.Transport keeps them for etcd's peer round tripper: a keepalive forwarded by a
// follower then costs one round trip, not a TCP handshake.
import NIOCore
import NIOHTTP1
import Synchronization
import TLS

final class PooledClient: Sendable {
    private let tls: TLSEndpoint?

    init(tls: TLSEndpoint?) { self.tls = tls }

    /// An idle connection and the handler that answers its next exchange.
    private struct Connection: @unchecked Sendable {
        // `handler` is confined to `channel`'s event loop.
        let channel: Channel
        let handler: ExchangeHandler
    }

    private let idle = Mutex<[String: [Connection]]>([:])
    static let maxIdlePerPeer = 8

    /// Sends one request and returns the answer, reusing an idle connection to `url` when one
    /// is open (retried once on a new connection if the idle one turns out closed).
    func request(on loop: any EventLoop, url: PeerURL, method: HTTPMethod, path: String,
                 headers: [(String, String)], body: ByteBuffer, connectTimeout: TimeAmount,
                 timeout: TimeAmount) -> EventLoopFuture<HTTPClientResponse> {
        let key = "\(url.host):\(url.port)"
        let head = PeerHTTPClient.head(method: method, url: url, path: path, headers: headers, contentLength: body.readableBytes)
        if let reused = takeIdle(key) {
            return exchange(reused, key: key, head: head, body: body, timeout: timeout).flatMapError { error in
                guard case TransportError.connectionClosed = error else { return loop.makeFailedFuture(error) }
                return self.fresh(on: loop, url: url, key: key, head: head, body: body, connectTimeout: connectTimeout, timeout: timeout)
            }
        }
        return fresh(on: loop, url: url, key: key, head: head, body: body, connectTimeout: connectTimeout, timeout: timeout)
    }

    /// Closes every idle connection.
    func closeAll() {
        let all = idle.withLock { i in defer { i.removeAll() }; return i.values.flatMap { $0 } }
        for c in all { c.channel.close(promise: nil) }
    }

    private func fresh(on loop: any EventLoop, url: PeerURL, key: String, head: HTTPRequestHead, body: ByteBuffer,
                       connectTimeout: TimeAmount, timeout: TimeAmount) -> EventLoopFuture<HTTPClientResponse> {
        let handler = ExchangeHandler()
        return PeerHTTPClient.connect(url: url, on: loop, timeout: connectTimeout, tls: tls) { channel in
            try channel.pipeline.syncOperations.addHandler(handler)
        }.flatMap { channel in
            self.exchange(Connection(channel: channel, handler: handler), key: key, head: head, body: body, timeout: timeout)
        }
    }

    private func takeIdle(_ key: String) -> Connection? {
        idle.withLock { i -> Connection? in
            while let c = i[key]?.popLast() {
                if c.channel.isActive { return c }
            }
            return nil
        }
    }

    private func giveBack(_ c: Connection, key: String) {
        let kept = idle.withLock { i -> Bool in
            guard c.channel.isActive, (i[key]?.count ?? 0) < Self.maxIdlePerPeer else { return false }
            i[key, default: []].append(c)
            return true
        }
        if !kept { c.channel.close(promise: nil) }
    }

    private func exchange(_ c: Connection, key: String, head: HTTPRequestHead, body: ByteBuffer,
                          timeout: TimeAmount) -> EventLoopFuture<HTTPClientResponse> {
        let channel = c.channel
        let promise = channel.eventLoop.makePromise(of: HTTPClientResponse.self)
        channel.eventLoop.execute {
            c.handler.begin(promise)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            let task = channel.eventLoop.scheduleTask(in: timeout) {
                promise.fail(TransportError.timeout)
                channel.close(promise: nil)
            }
            promise.futureResult.whenComplete { result in
                task.cancel()
                switch result {
                case .success(let r) where !r.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" }):
                    self.giveBack(c, key: key)
                default:
                    channel.close(promise: nil)
                }
            }
        }
        return promise.futureResult
    }
}

/// Answers one exchange at a time on a kept-alive connection (event loop only).
final class ExchangeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    private var promise: EventLoopPromise<HTTPClientResponse>?
    private var response: HTTPClientResponse?
    static let limit = 1 << 20

    func begin(_ p: EventLoopPromise<HTTPClientResponse>) {
        promise = p
        response = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            response = HTTPClientResponse(status: Int(h.status.code), headers: h.headers, body: [])
        case .body(var b):
            guard response != nil, response!.body.count + b.readableBytes <= Self.limit else {
                finish(.failure(TransportError.responseTooLarge))
                context.close(promise: nil)
                return
            }
            response!.body += b.readBytes(length: b.readableBytes) ?? []
        case .end:
            if let response { finish(.success(response)) } else { finish(.failure(TransportError.connectionClosed)) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(TransportError.connectionClosed))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    private func finish(_ r: Result<HTTPClientResponse, Error>) {
        guard let p = promise else { return }
        promise = nil
        response = nil
        p.completeWith(r)
    }
}
