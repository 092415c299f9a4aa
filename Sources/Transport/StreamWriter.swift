// streamWriter: writes messages to a peer over the response body of the stream GET the peer
// made to us. The connection lives on its own event loop; the writer is confined to the peer's
// loop and hops only to write. Queued messages are bounded (etcd: a 4096-message channel).
import EtcdMetrics
import EtcdProto
import Logging
import NIOCore
import NIOHTTP1
import Raft

/// One attached stream connection and its encoder state. @unchecked Sendable: touched only on
/// the owning peer's event loop.
final class OutgoingConn: @unchecked Sendable {
    let channel: Channel
    var encoder = MsgAppV2Encoder()
    /// Encoded but not yet handed to the channel, and handed over but not yet written out.
    var pending = ByteBuffer()
    var pendingCount = 0
    var inFlight = 0
    /// Channel writes not yet completed (messages and heartbeats), for the write timeout.
    var writesOutstanding = 0
    var lastProgress = NIODeadline.now()

    init(channel: Channel) { self.channel = channel }
}

/// @unchecked Sendable: all state is confined to the peer's event loop (`loop`).
final class StreamWriter: @unchecked Sendable {
    let kind: StreamKind
    private let peerID: UInt64
    private let loop: any EventLoop
    private let ctx: TransportContext
    private let activity: PeerActivity
    private(set) var conn: OutgoingConn?
    private var heartbeat: RepeatedTask?
    private let meters: PeerMeters

    init(kind: StreamKind, peerID: UInt64, loop: any EventLoop, ctx: TransportContext, activity: PeerActivity) {
        self.kind = kind
        self.peerID = peerID
        self.meters = PeerMeters(id: peerID)
        self.loop = loop
        self.ctx = ctx
        self.activity = activity
    }

    var isWorking: Bool { conn != nil }

    private var logMeta: Logger.Metadata {
        ["stream-writer-type": "\(kind.logName)", "local-member-id": "\(ctx.localHex)", "remote-peer-id": "\(EtcdID.hex(peerID))"]
    }

    /// A peer's stream GET was accepted: its response body now carries our messages.
    func attach(_ channel: Channel) {
        loop.preconditionInEventLoop()
        if let old = conn {
            drop(old)
            ctx.logger.warning("closed TCP streaming connection with remote peer", metadata: logMeta)
        }
        let c = OutgoingConn(channel: channel)
        conn = c
        activity.activate()
        ctx.logger.warning("established TCP streaming connection with remote peer", metadata: logMeta)
        channel.closeFuture.hop(to: loop).whenComplete { [weak self] _ in
            self?.lost(c, action: "write", reason: "connection closed by remote")
        }
        if heartbeat == nil {
            let interval = TimeAmount.milliseconds(ctx.limits.connTimeout / 3)
            heartbeat = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
                self?.tick()
            }
        }
    }

    /// Queues a message; false when the buffer is full or no connection is attached.
    func enqueue(_ m: Raft.Message) -> Bool {
        guard let c = conn, c.pendingCount + c.inFlight < ctx.limits.streamBuffer else { return false }
        switch kind {
        case .msgAppV2: c.encoder.encode(m, into: &c.pending)
        case .message: MessageFraming.encode(m, into: &c.pending)
        }
        c.pendingCount += 1
        return true
    }

    /// Hands everything queued to the channel in one write.
    func flush() {
        guard let c = conn, c.pending.readableBytes > 0 else { return }
        let n = c.pendingCount
        let bytes = c.pending
        c.pending = ByteBuffer()
        c.pendingCount = 0
        meters.sent.increment(by: Int64(bytes.readableBytes))
        c.inFlight += n
        if c.writesOutstanding == 0 { c.lastProgress = .now() }
        c.writesOutstanding += 1
        c.channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(bytes))).hop(to: loop).whenComplete { [weak self] r in
            c.inFlight -= n
            c.writesOutstanding -= 1
            c.lastProgress = .now()
            if case .failure(let e) = r { self?.lost(c, action: "write", reason: "\(e)") }
        }
    }

    /// Link heartbeat every ConnReadTimeout/3, and ConnWriteTimeout on a stuck socket.
    private func tick() {
        guard let c = conn else { return }
        if c.writesOutstanding > 0, NIODeadline.now() - c.lastProgress > .milliseconds(ctx.limits.connTimeout) {
            lost(c, action: "write", reason: "i/o timeout")
            return
        }
        switch kind {
        case .msgAppV2: c.encoder.encodeLinkHeartbeat(into: &c.pending)
        case .message: MessageFraming.encode(Raftpb_Message.linkHeartbeat, into: &c.pending)
        }
        flush()
    }

    private func lost(_ c: OutgoingConn, action: String, reason: String) {
        guard conn === c else { return }
        drop(c)
        meters.sendFailed()
        activity.deactivate(source: kind.logName, action: action, reason: reason)
        ctx.logger.warning("lost TCP streaming connection with remote peer", metadata: logMeta)
    }

    /// Forgets and closes a connection; queued messages are lost, so raft hears the peer is unreachable.
    private func drop(_ c: OutgoingConn) {
        if conn === c { conn = nil }
        if c.pendingCount + c.inFlight > 0 { ctx.handler.reportUnreachable(peerID) }
        c.pendingCount = 0
        c.pending.clear()
        // End the chunked body first so the reader sees a clean EOF, as Go's handler gives it.
        let channel = c.channel
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in channel.close(promise: nil) }
        if conn == nil {
            heartbeat?.cancel()
            heartbeat = nil
        }
    }

    func stop() {
        if let c = conn {
            drop(c)
            ctx.logger.warning("closed TCP streaming connection with remote peer", metadata: logMeta)
        }
        heartbeat?.cancel()
        heartbeat = nil
    }
}
