// One remote member: two stream writers (fed by the peer's stream GETs to us), two stream
// readers (our GETs to the peer), the pipeline (POST /raft, 4 workers, 64 queued) and snapshot
// posts. A "remote" (a member we only heard of through X-PeerURLs) has the pipeline only.
import EtcdMetrics
import EtcdProto
import Logging
import NIOCore
import TLS
import NIOHTTP1
import Raft

#if canImport(Glibc)
import Glibc
#endif

/// @unchecked Sendable: every mutable field is confined to `loop`; the public entry points of
/// the transport hop there with `loop.execute`. `activity` is thread-safe on its own.
final class Peer: @unchecked Sendable {
    let id: UInt64
    let loop: any EventLoop
    let ctx: TransportContext
    let activity: PeerActivity
    /// This peer's rafthttp metrics, made once.
    let meters: PeerMeters
    var picker: URLPicker
    private(set) var streamsEnabled = false
    private var writers: [StreamWriter] = []
    private var readers: [StreamReader] = []
    /// etcd probes a peer twice, over its pipeline and its stream round trippers (not a remote).
    private var probers: [PeerProber] = []
    private var pipelineQueue = CircularBuffer<Raft.Message>()
    private var pipelineBusy = 0
    private var stopped = false
    private var lastDropLog = NIODeadline.uptimeNanoseconds(0)
    private var droppedSinceLog = 0

    init(id: UInt64, urls: [PeerURL], loop: any EventLoop, ctx: TransportContext) {
        self.id = id
        self.loop = loop
        self.ctx = ctx
        self.activity = PeerActivity(peerID: id, localID: ctx.localID, logger: ctx.logger)
        self.meters = PeerMeters(id: id)
        self.picker = URLPicker(urls)
    }

    private var meta: Logger.Metadata { ["local-member-id": "\(ctx.localHex)", "remote-peer-id": "\(EtcdID.hex(id))"] }

    /// Remote -> peer: start the stream readers and accept stream connections.
    func enableStreams() {
        loop.preconditionInEventLoop()
        guard !streamsEnabled, !stopped else { return }
        streamsEnabled = true
        writers = StreamKind.allCases.map { StreamWriter(kind: $0, peerID: id, loop: loop, ctx: ctx, activity: activity) }
        readers = StreamKind.allCases.map { StreamReader(kind: $0, peer: self) }
        for r in readers { r.start() }
        probers = ["ROUND_TRIPPER_SNAPSHOT", "ROUND_TRIPPER_RAFT_MESSAGE"].map {
            PeerProber(name: $0, peerID: id, urls: picker.urls, loop: loop, ctx: ctx, meters: meters)
        }
        for p in probers { p.start() }
    }

    func update(urls: [PeerURL]) {
        picker.update(urls)
        for p in probers { p.update(urls: urls) }
    }

    var workingStreams: Set<StreamKind> { Set(writers.filter(\.isWorking).map(\.kind)) }

    func stop() {
        guard !stopped else { return }
        stopped = true
        for w in writers { w.stop() }
        for r in readers { r.stop() }
        readers = []
        for p in probers { p.stop() }
        probers = []
        pipelineQueue.removeAll()
    }

    func attach(_ kind: StreamKind, channel: Channel) {
        guard streamsEnabled, !stopped, let w = writers.first(where: { $0.kind == kind }) else {
            channel.close(promise: nil)
            return
        }
        w.attach(channel)
    }

    // MARK: sending

    /// peer.pick + send: MsgApp on msgappv2 when it works, the rest on the message stream, the
    /// pipeline when streams are down (and for MsgSnap). A full buffer drops the message and
    /// tells raft the peer is unreachable.
    func send(_ messages: [Raft.Message]) {
        guard !stopped else { return }
        let msgApp = writers.first { $0.kind == .msgAppV2 }
        let message = writers.first { $0.kind == .message }
        for m in messages {
            let queued: Bool
            if m.type == .snap {
                queued = enqueuePipeline(m)
            } else if m.type == .app, let w = msgApp, w.isWorking {
                queued = w.enqueue(m)
            } else if let w = message, w.isWorking {
                queued = w.enqueue(m)
            } else {
                queued = enqueuePipeline(m)
            }
            if !queued { dropped(m) }
        }
        for w in writers { w.flush() }
    }

    private func dropped(_ m: Raft.Message) {
        meters.sendFailed()
        if streamsEnabled { ctx.handler.reportUnreachable(m.to) }
        if m.type == .snap { ctx.handler.reportSnapshot(m.to, failed: true) }
        droppedSinceLog += 1
        let now = NIODeadline.now()
        guard now - lastDropLog > .seconds(1) else { return }
        lastDropLog = now
        var md = meta
        md["message-type"] = "\(m.type)"
        md["dropped"] = "\(droppedSinceLog)"
        md["remote-peer-active"] = "\(activity.isActive)"
        droppedSinceLog = 0
        ctx.logger.warning("dropped internal Raft message since sending buffer is full (overloaded network)", metadata: md)
    }

    private func enqueuePipeline(_ m: Raft.Message) -> Bool {
        guard pipelineQueue.count < ctx.limits.pipelineBuffer else { return false }
        pipelineQueue.append(m)
        pumpPipeline()
        return true
    }

    private func pumpPipeline() {
        while !stopped, pipelineBusy < ctx.limits.pipelineConnections, let m = pipelineQueue.popFirst() {
            pipelineBusy += 1
            post(m)
        }
    }

    private func post(_ m: Raft.Message) {
        guard let url = picker.pick() else {
            pipelineDone(m, error: TransportError.noPeerURL.description, url: nil)
            return
        }
        var headers = ctx.requestHeaders()
        headers.insert(("Content-Type", "application/protobuf"), at: 0)
        let body = ByteBuffer(bytes: m.raftpbBytes())
        meters.sent.increment(by: Int64(body.readableBytes))
        PeerHTTPClient.request(on: loop, url: url, tls: ctx.tls, method: .POST, path: "/raft", headers: headers, body: .bytes(body),
                               connectTimeout: .milliseconds(ctx.limits.dialTimeout),
                               timeout: .milliseconds(ctx.limits.postTimeout)).whenComplete { [self] result in
            switch result {
            case .failure(let e):
                pipelineDone(m, error: GoTLSText.describe(e), url: url)
            case .success(let r):
                switch PeerProtocol.postOutcome(status: r.status, body: r.body, url: url.original + "/raft") {
                case .ok: pipelineDone(m, error: nil, url: url)
                case .memberRemoved:
                    ctx.handler.removedFromCluster(reportedBy: id)
                    pipelineDone(m, error: "the member has been permanently removed from the cluster", url: url)
                case .incompatible(let e): pipelineDone(m, error: e.rawValue, url: url)
                case .failed(let s): pipelineDone(m, error: s, url: url)
                }
            }
        }
    }

    private func pipelineDone(_ m: Raft.Message, error: String?, url: PeerURL?) {
        pipelineBusy -= 1
        if let error {
            if let url { picker.unreachable(url) }
            meters.sendFailed()
            activity.deactivate(source: "pipeline", action: "write", reason: error)
            ctx.handler.reportUnreachable(m.to)
            if m.type == .snap { ctx.handler.reportSnapshot(m.to, failed: true) }
        } else {
            activity.activate()
            if m.type == .snap { ctx.handler.reportSnapshot(m.to, failed: false) }
        }
        pumpPipeline()
    }

    // MARK: snapshots

    /// snapshotSender.send: POST /raft/snapshot with the framed message and then the db file.
    func sendSnapshot(_ m: Raft.Message, dbPath: String) {
        let index = m.snapshot?.metadata.index ?? 0
        var md = meta
        md["snapshot-index"] = "\(index)"
        var st = stat()
        guard !stopped, stat(dbPath, &st) == 0, let url = picker.pick() else {
            ctx.logger.warning("failed to send database snapshot", metadata: md.merging(["error": "no database file or peer URL"]) { $1 })
            return snapshotFailed(m, url: nil, reason: "cannot open \(dbPath)")
        }
        var prefix = ByteBuffer()
        MessageFraming.encode(m, into: &prefix)
        let total = prefix.readableBytes + Int(st.st_size)
        md["bytes"] = "\(total)"
        ctx.logger.info("sending database snapshot", metadata: md)
        let logMeta = md
        let hex = String(id, radix: 16)
        let start = NIODeadline.now()
        SnapshotMeters.inflight(.send, peer: hex, 1)
        var headers = ctx.requestHeaders()
        headers.insert(("Content-Type", "application/octet-stream"), at: 0)
        PeerHTTPClient.request(on: loop, url: url, tls: ctx.tls, method: .POST, path: "/raft/snapshot", headers: headers,
                               body: .prefixedFile(prefix, path: dbPath, size: Int(st.st_size)),
                               connectTimeout: .milliseconds(ctx.limits.dialTimeout),
                               timeout: .milliseconds(ctx.limits.postTimeout)).whenComplete { [self] result in
            SnapshotMeters.inflight(.send, peer: hex, -1)
            var outcome: PeerProtocol.PostOutcome
            switch result {
            case .failure(let e): outcome = .failed(GoTLSText.describe(e))
            case .success(let r): outcome = PeerProtocol.postOutcome(status: r.status, body: r.body, url: url.original + "/raft/snapshot")
            }
            if outcome == .ok {
                activity.activate()
                ctx.handler.reportSnapshot(m.to, failed: false)
                ctx.logger.info("sent database snapshot", metadata: logMeta)
                meters.sent.increment(by: Int64(total))
                SnapshotMeters.succeeded(.send, peer: hex, seconds: Double((NIODeadline.now() - start).nanoseconds) / 1e9)
                return
            }
            if outcome == .memberRemoved { ctx.handler.removedFromCluster(reportedBy: id) }
            ctx.logger.warning("failed to send database snapshot", metadata: logMeta.merging(["error": "\(outcome)"]) { $1 })
            SnapshotMeters.failed(.send, peer: hex)
            snapshotFailed(m, url: url, reason: "\(outcome)")
        }
    }

    private func snapshotFailed(_ m: Raft.Message, url: PeerURL?, reason: String) {
        if let url { picker.unreachable(url) }
        meters.sendFailed()
        activity.deactivate(source: "sendMsgSnap", action: "post", reason: reason)
        ctx.handler.reportUnreachable(m.to)
        ctx.handler.reportSnapshot(m.to, failed: true)
    }
}
