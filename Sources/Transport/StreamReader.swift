// streamReader: dials GET <peer>/raft/stream/{msgapp,message}/<localID> and reads the messages
// the peer writes to us, redialling after failures. Its connections are bootstrapped on the
// peer's event loop, so the reader and its channel handler share one loop.
import EtcdProto
import Logging
import NIOCore
import TLS
import NIOHTTP1
import Raft

/// @unchecked Sendable: all state is confined to the peer's event loop.
final class StreamReader: @unchecked Sendable {
    let kind: StreamKind
    /// Strong: a dial or a read may still complete after the peer was removed and stopped (a
    /// removed member's connections close under us). `Peer.stop` drops its readers, which breaks
    /// the cycle once their last callback has run.
    private let peer: Peer
    private var ctx: TransportContext { peer.ctx }
    private var channel: Channel?
    private var retry: Scheduled<Void>?
    private var failures = 0
    private var stopped = false

    init(kind: StreamKind, peer: Peer) {
        self.kind = kind
        self.peer = peer
    }

    private var logMeta: Logger.Metadata {
        ["stream-reader-type": "\(kind.logName)", "local-member-id": "\(ctx.localHex)", "remote-peer-id": "\(EtcdID.hex(peer.id))"]
    }

    func start() {
        ctx.logger.info("started stream reader with remote peer", metadata: logMeta)
        dial()
    }

    func stop() {
        stopped = true
        retry?.cancel()
        channel?.close(promise: nil)
        channel = nil
        ctx.logger.info("stopped stream reader with remote peer", metadata: logMeta)
    }

    private func dial() {
        guard !stopped else { return }
        guard let url = peer.picker.pick() else { return scheduleRedial() }
        let limits = ctx.limits
        let decoder: StreamClientHandler.Decoder = kind == .message
            ? .message(MessageStreamDecoder(maxMessageBytes: limits.maxMessageBytes))
            : .msgAppV2(MsgAppV2Decoder(local: ctx.localID, remote: peer.id, maxMessageBytes: limits.maxMessageBytes))
        var headers = ctx.requestHeaders()
        headers.append((PeerHeader.raftTo, EtcdID.hex(peer.id)))
        let head = PeerHTTPClient.head(method: .GET, url: url, path: kind.endpoint + "/" + ctx.localHex,
                                       headers: headers, contentLength: nil)
        PeerHTTPClient.connect(url: url, on: peer.loop, timeout: .milliseconds(limits.dialTimeout), tls: ctx.tls) { [self] ch in
            try ch.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .milliseconds(limits.connTimeout)))
            try ch.pipeline.syncOperations.addHandler(StreamClientHandler(reader: self, url: url, decoder: decoder))
        }.whenComplete { [self] result in
            switch result {
            case .failure(let e):
                dialFailed(url, reason: GoTLSText.describe(e))
            case .success(let ch):
                if stopped { ch.close(promise: nil); return }
                channel = ch
                ch.writeAndFlush(HTTPClientRequestPart.head(head)).whenComplete { _ in
                    ch.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                }
            }
        }
    }

    private func scheduleRedial() {
        guard !stopped else { return }
        let limits = ctx.limits
        let delay = min(limits.redialMax, limits.redialMin << min(failures, 16))
        failures += 1
        retry = peer.loop.scheduleTask(in: .milliseconds(delay)) { [self] in dial() }
    }

    private func dialFailed(_ url: PeerURL, reason: String, deactivate: Bool = true) {
        peer.picker.unreachable(url)
        if deactivate { peer.activity.deactivate(source: kind.logName, action: "dial", reason: reason) }
        scheduleRedial()
    }

    // MARK: events from StreamClientHandler (same loop)

    /// The response head arrived; true when the stream is up and its body carries messages.
    func responseHead(_ head: HTTPResponseHead, url: PeerURL) -> Bool {
        if head.status != .ok || !PeerProtocol.supportsStreams(remoteVersion: head.headers.first(name: PeerHeader.serverVersion)) {
            return false
        }
        failures = 0
        peer.activity.activate()
        ctx.logger.info("established TCP streaming connection with remote peer", metadata: logMeta)
        return true
    }

    /// A non-200 answer (body read up to a few KiB): etcd's dial error handling.
    func rejected(status: Int, body: [UInt8], headers: HTTPHeaders, url: PeerURL) {
        channel = nil
        var text = String(decoding: body, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        if !PeerProtocol.supportsStreams(remoteVersion: headers.first(name: PeerHeader.serverVersion)) {
            return dialFailed(url, reason: "unsupported stream type", deactivate: false)
        }
        switch status {
        case 410:
            ctx.handler.removedFromCluster(reportedBy: peer.id)
            dialFailed(url, reason: "the member has been permanently removed from the cluster")
        case 404:
            dialFailed(url, reason: "peer \(EtcdID.hex(peer.id)) failed to find local node \(ctx.localHex)")
        case 412:
            switch CompatibilityError(rawValue: text) {
            case .incompatibleVersion:
                ctx.logger.warning("request sent was ignored by remote peer due to server version incompatibility", metadata: logMeta)
            case .clusterIDMismatch:
                var meta = logMeta
                meta["remote-peer-cluster-id"] = "\(headers.first(name: PeerHeader.clusterID) ?? "")"
                meta["local-member-cluster-id"] = "\(EtcdID.hex(ctx.clusterID))"
                ctx.logger.warning("request sent was ignored by remote peer due to cluster ID mismatch", metadata: meta)
            case nil: break
            }
            dialFailed(url, reason: CompatibilityError(rawValue: text)?.rawValue ?? "unhandled error \"\(text)\" when precondition failed")
        default:
            dialFailed(url, reason: "unhandled http status \(status)")
        }
    }

    /// The connection failed before a whole answer arrived.
    func aborted(reason: String, url: PeerURL) {
        channel = nil
        dialFailed(url, reason: reason)
    }

    /// Stream bytes from the peer, for etcd_network_peer_received_bytes_total.
    func received(bytes: Int) { peer.meters.received.increment(by: Int64(bytes)) }

    /// One decoded frame: link heartbeats are dropped, others validated and handed to the server.
    func deliver(_ pb: Raftpb_Message) {
        if pb.isLinkHeartbeat || stopped { return }
        do {
            let m = try ctx.validator.validate(pb, path: .stream, expectedFrom: peer.id,
                                               isKnown: { _ in true }, isRemoved: ctx.handler.isRemoved)
            ctx.handler.process(m)
        } catch {
            ctx.logger.warning("dropped invalid Raft message from stream", metadata: logMeta.merging(
                ["error": "\(error)"], uniquingKeysWith: { $1 }))
        }
    }

    /// The stream ended. `error` is nil for a clean end (EOF or closed by the peer).
    func ended(error: String?) {
        channel = nil
        if stopped { return }
        var meta = logMeta
        if let error { meta["error"] = "\(error)" }
        ctx.logger.warning("lost TCP streaming connection with remote peer", metadata: meta)
        if let error { peer.activity.deactivate(source: kind.logName, action: "read", reason: error) }
        scheduleRedial()
    }
}

/// Reads one stream response: the head, then either a rejection body or the framed messages.
final class StreamClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    enum Decoder {
        case message(MessageStreamDecoder)
        case msgAppV2(MsgAppV2Decoder)
        case none
    }

    private enum State {
        case waitingHead
        case streaming
        case rejected(HTTPResponseHead, [UInt8])
        case done
    }

    private let reader: StreamReader
    private let url: PeerURL
    private var decoder: Decoder
    private var state = State.waitingHead
    private var error: String?

    init(reader: StreamReader, url: PeerURL, decoder: Decoder) {
        self.reader = reader
        self.url = url
        self.decoder = decoder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (state, unwrapInboundIn(data)) {
        case (.waitingHead, .head(let h)):
            state = reader.responseHead(h, url: url) ? .streaming : .rejected(h, [])
        case (.streaming, .body(let b)):
            decode(b, context: context)
        case (.rejected(let h, var body), .body(var b)):
            if body.count < 4096 { body += b.readBytes(length: min(b.readableBytes, 4096 - body.count)) ?? [] }
            state = .rejected(h, body)
        case (.rejected(let h, let body), .end):
            state = .done
            reader.rejected(status: Int(h.status.code), body: body, headers: h.headers, url: url)
            context.close(promise: nil)
        case (.streaming, .end):
            context.close(promise: nil)
        default:
            break
        }
    }

    private func decode(_ chunk: ByteBuffer, context: ChannelHandlerContext) {
        reader.received(bytes: chunk.readableBytes)
        // Take the decoder out of `self` while mutating so its buffer is not copied (COW).
        let current = decoder
        decoder = .none
        do {
            switch current {
            case .message(var d):
                defer { decoder = .message(d) }
                d.feed(chunk)
                while let m = try d.next() { reader.deliver(m) }
            case .msgAppV2(var d):
                defer { decoder = .msgAppV2(d) }
                d.feed(chunk)
                while let m = try d.next() { reader.deliver(m) }
            case .none:
                break
            }
        } catch {
            self.error = "\(error)"
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? IdleStateHandler.IdleStateEvent, e == .read {
            error = error ?? "read timeout"
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.error = self.error ?? GoTLSText.describe(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .streaming:
            state = .done
            reader.ended(error: error)
        case .waitingHead, .rejected:
            state = .done
            reader.aborted(reason: error ?? "connection closed before the response", url: url)
        case .done:
            break
        }
    }
}
