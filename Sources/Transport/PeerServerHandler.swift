// The peer listener's HTTP/1.1 handler: etcdhttp's peer mux (/raft..., /members, /version,
// /leases, /members/promote/<id>, /members/hashkv) answering as etcd does. Confined to its
// connection's event loop.
import EtcdMetrics
import EtcdProto
import Logging
import NIOCore
import NIOHTTP1
import Raft
import TLS

#if canImport(Glibc)
import Glibc
#endif

final class PeerServerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// Body collected up to `limit`, answered at the end.
        case collecting(HTTPRequestHead, PeerRoute, ByteBuffer, limit: Int)
        /// The answer is known; the rest of the request is read and dropped.
        case answering(HTTPRequestHead, PeerAnswer)
        case snapshot(HTTPRequestHead, SnapshotReceiver)
        /// A stream GET was accepted: the connection now belongs to a stream writer.
        case streaming
        /// Waiting for an asynchronous answer (lease handler, snapshot save).
        case waiting
    }

    private let transport: PeerTransport
    private var ctx: TransportContext { transport.ctx }
    private var state = State.idle

    init(transport: PeerTransport) { self.transport = transport }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (state, unwrapInboundIn(data)) {
        case (.idle, .head(let head)):
            begin(head, context: context)
        case (.collecting(let head, let route, var body, let limit), .body(var chunk)):
            state = .waiting  // drop our reference so `body` grows without a copy
            guard body.readableBytes + chunk.readableBytes <= limit else {
                let msg = route == .pipeline ? "error reading raft message" : "error reading body"
                if route == .pipeline { Meters.peerReceiveFailed(from: context.channel.remoteAddress?.goHostPort ?? "") }
                respond(context, head, .error(400, msg), close: true)
                return
            }
            body.writeBuffer(&chunk)
            state = .collecting(head, route, body, limit: limit)
        case (.collecting(let head, let route, let body, _), .end):
            state = .waiting
            finish(head, route, body, context: context)
        case (.snapshot(_, let receiver), .body(let chunk)):
            receiver.receive(chunk)
        case (.snapshot(_, let receiver), .end):
            state = .waiting
            receiver.end()
        case (.answering(let head, let answer), .end):
            respond(context, head, answer, close: false)
        case (.answering, .body), (.streaming, _), (.waiting, _):
            break
        default:
            context.close(promise: nil)
        }
    }

    private func begin(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = PeerRoute.path(of: head.uri)
        let route = PeerRoute(path: path)
        let cid = [(PeerHeader.clusterID, EtcdID.hex(ctx.clusterID))]
        func answer(_ a: PeerAnswer, _ extra: [(String, String)] = []) {
            var a = a
            a.headers.insert(contentsOf: extra, at: 0)
            state = .answering(head, a)
        }
        switch route {
        case .pipeline, .snapshot:
            // rafthttp counts a snapshot post refused before its message is read under this name.
            let unknownSender = { if route == .snapshot { SnapshotMeters.failed(.receive, peer: "UNKNOWN_SNAPSHOT_SENDER") } }
            guard head.method == .POST else { unknownSender(); return answer(.methodNotAllowed(allow: "POST")) }
            if let e = compatibility(head) { unknownSender(); return answer(.error(412, e.rawValue), cid) }
            addRemote(from: head.headers)
            if route == .pipeline {
                state = .collecting(head, route, ByteBuffer(), limit: ctx.limits.maxMessageBytes)
            } else {
                let receiver = SnapshotReceiver(transport: transport, head: head, channel: context.channel) { [weak self] a in
                    self?.snapshotAnswered(a, head: head, context: context)
                }
                state = .snapshot(head, receiver)
            }
        case .stream:
            decideStream(head, path: path, context: context)
        case .probing:
            answer(.json(200, PeerServerHandler.probingJSON()))
        case .members:
            guard head.method == .GET else { return answer(.methodNotAllowed(allow: "GET")) }
            var body = ctx.handler.membersJSON()
            if body.last != UInt8(ascii: "\n") { body.append(UInt8(ascii: "\n")) }
            answer(.json(200, body), cid)
        case .version:
            guard head.method == .GET else { return answer(.methodNotAllowed(allow: "GET")) }
            answer(.json(200, PeerProtocol.versionJSON(server: ctx.serverVersion, cluster: ctx.clusterVersion)))
        case .leases, .leasesInternal:
            guard head.method == .POST else { return answer(.error(405, "Method Not Allowed")) }
            state = .collecting(head, route, ByteBuffer(), limit: 1 << 20)
        case .promote(let text):
            guard head.method == .POST else { return answer(.methodNotAllowed(allow: "POST")) }
            guard PeerRoute.promoteID(text) != nil else { return answer(.error(404, "member \(text) not found in cluster"), cid) }
            state = .collecting(head, route, ByteBuffer(), limit: 1 << 20)
        case .hashKV:
            guard head.method == .GET else { return answer(.methodNotAllowed(allow: "GET")) }
            state = .collecting(head, route, ByteBuffer(), limit: 1 << 20)
        case .notFound:
            answer(.notFound)
        }
    }

    private func compatibility(_ head: HTTPRequestHead) -> CompatibilityError? {
        let e = PeerProtocol.checkCompatibility(head.headers, clusterID: ctx.clusterID, serverVersion: ctx.localSemVer,
                                                minClusterVersion: ctx.minClusterSemVer)
        if let e {
            ctx.logger.warning(e == .clusterIDMismatch ? "request cluster ID mismatch" : "failed to check version compatibility",
                               metadata: ["local-member-id": "\(ctx.localHex)", "local-member-cluster-id": "\(EtcdID.hex(ctx.clusterID))",
                                          "remote-peer-server-name": "\(head.headers.first(name: PeerHeader.serverFrom) ?? "")",
                                          "remote-peer-cluster-id": "\(head.headers.first(name: PeerHeader.clusterID) ?? "")"])
        }
        return e
    }

    /// addRemoteFromRequest: a sender we do not know yet, announcing its URLs, gets a pipeline back.
    private func addRemote(from headers: HTTPHeaders) {
        guard let from = headers.first(name: PeerHeader.serverFrom).flatMap(EtcdID.parse),
              let urls = headers.first(name: PeerHeader.peerURLs), !urls.isEmpty else { return }
        transport.addRemote(id: from, urls: urls.split(separator: ",").map(String.init))
    }

    private func decideStream(_ head: HTTPRequestHead, path: Substring, context: ChannelHandlerContext) {
        let decision = PeerProtocol.decideStream(
            method: head.method, path: path, headers: head.headers, localID: ctx.localID, clusterID: ctx.clusterID,
            serverVersion: ctx.localSemVer, minClusterVersion: ctx.minClusterSemVer,
            isRemoved: ctx.handler.isRemoved, isPeer: { self.transport.hasPeer($0) })
        let common = [(PeerHeader.serverVersion, ctx.serverVersion), (PeerHeader.clusterID, EtcdID.hex(ctx.clusterID))]
        switch decision {
        case .reject(var a, let remote, let urls):
            if let remote { transport.addRemote(id: remote, urls: urls) }
            if a.status != 405 { a.headers.insert(contentsOf: common, at: 0) }
            if a.status != 405, a.status != 412 {
                ctx.logger.warning("rejected stream request", metadata: ["local-member-id": "\(ctx.localHex)",
                                   "path": "\(path)", "status": "\(a.status)"])
            }
            state = .answering(head, a)
        case .accept(let kind, let from):
            state = .streaming
            var h = HTTPHeaders(common)
            h.add(name: "Content-Type", value: "application/octet-stream")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: h))),
                                  promise: nil)
            transport.attachStream(kind, from: from, channel: context.channel)
        }
    }

    /// A whole body arrived for /raft, /leases*, /members/promote/<id> or /members/hashkv.
    private func finish(_ head: HTTPRequestHead, _ route: PeerRoute, _ body: ByteBuffer, context: ChannelHandlerContext) {
        if route == .pipeline {
            respond(context, head, pipelineAnswer(head, body, remote: context.channel.remoteAddress?.goHostPort ?? ""), close: false)
            return
        }
        let bytes = Array(body.readableBytesView)
        let handler = ctx.handler
        let work: @Sendable () async -> PeerAnswer
        switch route {
        case .promote(let text):
            let id = PeerRoute.promoteID(text) ?? 0  // checked when the request began
            work = { await handler.promoteMember(id: id) }
        case .hashKV:
            work = { await handler.hashKV(requestJSON: bytes) }
        default:
            let path = route == .leases ? "/leases" : "/leases/internal"
            work = {
                let r = await handler.leaseRequest(path: path, body: bytes)
                return r.status == 200
                    ? PeerAnswer(status: 200, headers: [("Content-Type", "application/protobuf")], body: r.body)
                    : PeerAnswer.error(r.status, String(decoding: r.body, as: UTF8.self))
            }
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        let clusterID = EtcdID.hex(ctx.clusterID)
        Task {
            var built = await work()
            if case .promote = route { built.headers.insert((PeerHeader.clusterID, clusterID), at: 0) }
            let answer = built
            loop.execute {
                let (me, context) = bound.value
                me.respond(context, head, answer, close: false)
            }
        }
    }

    /// pipelineHandler: decode, validate, hand to raft, 204.
    private func pipelineAnswer(_ head: HTTPRequestHead, _ body: ByteBuffer, remote: String) -> PeerAnswer {
        var a = pipelineStep(head, body, remote: remote)
        a.headers.insert((PeerHeader.clusterID, EtcdID.hex(ctx.clusterID)), at: 0)
        return a
    }

    private func pipelineStep(_ head: HTTPRequestHead, _ body: ByteBuffer, remote: String) -> PeerAnswer {
        let a: PeerAnswer
        guard let pb = try? MessageFraming.decodeMessage(body, at: 0, count: body.readableBytes) else {
            ctx.logger.warning("failed to unmarshal Raft message", metadata: ["local-member-id": "\(ctx.localHex)"])
            Meters.peerReceiveFailed(from: remote)
            return .error(400, "error unmarshalling raft message")
        }
        let from = head.headers.first(name: PeerHeader.serverFrom).flatMap(EtcdID.parse) ?? 0
        do {
            let m = try ctx.validator.validate(pb, path: .pipeline, expectedFrom: from,
                                               isKnown: transport.isKnown, isRemoved: ctx.handler.isRemoved)
            // Counted once validated (no series for an unknown sender). The pipeline carries
            // messages only while streams are down, so a registry lookup here is fine.
            PeerMeters(id: m.from).received.increment(by: Int64(body.readableBytes))
            ctx.handler.process(m)
            a = PeerAnswer(status: 204)
        } catch .removedSender(let id) {
            ctx.logger.warning("rejected Raft message from removed member",
                               metadata: ["local-member-id": "\(ctx.localHex)", "removed-member-id": "\(EtcdID.hex(id))"])
            a = PeerProtocol.removedMemberAnswer
        } catch {
            ctx.logger.warning("dropped invalid Raft message from pipeline",
                               metadata: ["local-member-id": "\(ctx.localHex)", "error": "\(error)"])
            a = .error(400, "error processing raft message")
        }
        return a
    }

    private func snapshotAnswered(_ a: PeerAnswer, head: HTTPRequestHead, context: ChannelHandlerContext) {
        var a = a
        a.headers.insert((PeerHeader.clusterID, EtcdID.hex(ctx.clusterID)), at: 0)
        // An early answer (bad message) leaves the body unread: close rather than drain it.
        let early: Bool
        if case .snapshot = state { early = true } else { early = false }
        respond(context, head, a, close: early)
    }

    private func respond(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ a: PeerAnswer, close: Bool) {
        state = .idle
        var h = HTTPHeaders(a.headers)
        if a.status != 204 { h.add(name: "Content-Length", value: String(a.body.count)) }
        let keepAlive = head.isKeepAlive && !close
        if !keepAlive { h.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: a.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: h))), promise: nil)
        if !a.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: a.body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // etcd's listener times reads out after 5 s; streams and snapshot uploads are exempt.
        if let e = event as? IdleStateHandler.IdleStateEvent, e == .read {
            switch state {
            case .idle, .collecting, .answering: context.close(promise: nil)
            default: break
            }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .snapshot(_, let receiver) = state { receiver.abort() }
        state = .waiting
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// probing.Health as Go's json.Encoder writes it: {"OK":true,"Now":"<RFC 3339 nano>"}\n
    static func probingJSON() -> [UInt8] {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        var frac = pad(Int32(ts.tv_nsec), 9)
        while frac.hasSuffix("0") { frac.removeLast() }
        let date = "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T"
            + "\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2))" + (frac.isEmpty ? "" : "." + frac) + "Z"
        return Array(#"{"OK":true,"Now":"\#(date)"}"#.utf8) + [UInt8(ascii: "\n")]
    }
}
