// snapshotHandler: POST /raft/snapshot carries a framed MsgSnap and then the backend database.
// The message is decoded and checked first; the rest of the body streams to a temporary file
// in the snap dir (written on NIO's blocking pool, reads paused while writes lag), which is
// fsynced and renamed to %016x.snap.db (etcd's Snapshotter.SaveDBFrom).
import EtcdMetrics
import EtcdProto
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Raft
import TLS

#if canImport(Glibc)
import Glibc
#endif

/// @unchecked Sendable: confined to its connection's event loop; file I/O runs on the thread
/// pool with only the descriptor and buffers crossing over.
final class SnapshotReceiver: @unchecked Sendable {
    private let transport: PeerTransport
    private let head: HTTPRequestHead
    private let channel: Channel
    private let answer: (PeerAnswer) -> Void
    private var decoder: MessageStreamDecoder
    private var message: Raft.Message?
    private var file: EventLoopFuture<(fd: Int32, path: String)>?
    private var chain: EventLoopFuture<Void>
    private var pendingBytes = 0
    private var paused = false
    private var received = 0
    private var finished = false
    /// The first failed write; writes never fail the chain so cleanup always runs after them.
    private var writeError: String?
    private let start = NIODeadline.now()
    private var ctx: TransportContext { transport.ctx }

    init(transport: PeerTransport, head: HTTPRequestHead, channel: Channel, answer: @escaping (PeerAnswer) -> Void) {
        self.transport = transport
        self.head = head
        self.channel = channel
        self.answer = answer
        self.decoder = MessageStreamDecoder(maxMessageBytes: transport.ctx.limits.maxSnapshotMessageBytes)
        self.chain = channel.eventLoop.makeSucceededVoidFuture()
    }

    private var meta: Logger.Metadata {
        ["local-member-id": "\(ctx.localHex)", "remote-snapshot-sender-id": "\(EtcdID.hex(message?.from ?? 0))",
         "incoming-snapshot-index": "\(message?.snapshot?.metadata.index ?? 0)"]
    }

    func receive(_ chunk: ByteBuffer) {
        guard !finished else { return }
        if message != nil { return write(chunk) }
        decoder.feed(chunk)
        let pb: Raftpb_Message?
        do { pb = try decoder.next() } catch {
            Meters.peerReceiveFailed(from: channel.remoteAddress?.goHostPort ?? "")
            SnapshotMeters.failed(.receive, peer: "0")  // etcd labels it with the zero message's From
            return fail(.error(400, "failed to decode raft message (\(error))"))
        }
        guard let pb else { return }
        let from = head.headers.first(name: PeerHeader.serverFrom).flatMap(EtcdID.parse) ?? 0
        do {
            message = try ctx.validator.validate(pb, path: .snapshot, expectedFrom: from,
                                                 isKnown: transport.isKnown, isRemoved: ctx.handler.isRemoved)
        } catch .notASnapshot {
            SnapshotMeters.failed(.receive, peer: String(pb.from ?? 0, radix: 16))
            return fail(.error(400, "wrong raft message type"))
        } catch .removedSender {
            SnapshotMeters.failed(.receive, peer: String(pb.from ?? 0, radix: 16))
            return fail(PeerProtocol.removedMemberAnswer)
        } catch {
            SnapshotMeters.failed(.receive, peer: String(pb.from ?? 0, radix: 16))
            return fail(.error(400, "failed to process raft message (\(error))"))
        }
        ctx.logger.info("receiving database snapshot", metadata: meta)
        SnapshotMeters.inflight(.receive, peer: senderHex, 1)
        let dir = ctx.snapDir
        file = NIOThreadPool.singleton.runIfActive(eventLoop: channel.eventLoop) { () throws -> (fd: Int32, path: String) in
            mkdir(dir, 0o700)
            var template = Array((dir + "/tmpXXXXXX").utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            if fd < 0 { throw TransportError.file("create temp file in \(dir): errno \(errno)") }
            return (fd, String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        chain = file!.map { _ in }
        let rest = decoder.buffer
        decoder = MessageStreamDecoder(maxMessageBytes: 0)
        if rest.readableBytes > 0 { write(rest) }
    }

    private func write(_ chunk: ByteBuffer) {
        guard let file else { return }
        let n = chunk.readableBytes
        received += n
        pendingBytes += n
        if pendingBytes > 16 << 20, !paused {
            paused = true
            channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
        let loop = channel.eventLoop
        chain = chain.flatMap {
            file.flatMap { f in
                NIOThreadPool.singleton.runIfActive(eventLoop: loop) { Self.writeAll(f.fd, chunk) }
            }
        }.map { [self] error in
            if writeError == nil { writeError = error }
        }
        chain.whenComplete { [self] _ in
            pendingBytes -= n
            if paused, pendingBytes < 4 << 20 {
                paused = false
                channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                channel.read()
            }
        }
    }

    private static func writeAll(_ fd: Int32, _ chunk: ByteBuffer) -> String? {
        chunk.withUnsafeReadableBytes { raw -> String? in
            var off = 0
            while off < raw.count {
                let w = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if w < 0 {
                    if errno == EINTR { continue }
                    return "write snapshot: errno \(errno)"
                }
                off += w
            }
            return nil
        }
    }

    /// The body ended: sync, rename, hand the message to the server, answer 204.
    func end() {
        guard !finished else { return }
        guard let message, let file else {
            return fail(.error(400, "failed to decode raft message (unexpected EOF)"))
        }
        finished = true
        let index = message.snapshot?.metadata.index ?? 0
        let dbPath = ctx.snapDir + "/" + Self.hex16(index) + ".snap.db"
        let loop = channel.eventLoop
        chain.flatMap { [self] in
            let writeError = writeError
            return file.flatMap { f in
                NIOThreadPool.singleton.runIfActive(eventLoop: loop) { () throws in
                    defer { close(f.fd) }
                    if let writeError { unlink(f.path); throw TransportError.file(writeError) }
                    if fsync(f.fd) != 0 { unlink(f.path); throw TransportError.file("fsync: errno \(errno)") }
                    if access(dbPath, F_OK) == 0 { unlink(f.path); return }
                    if rename(f.path, dbPath) != 0 { unlink(f.path); throw TransportError.file("rename: errno \(errno)") }
                }
            }
        }.whenComplete { [self] result in
            switch result {
            case .success:
                var md = meta
                md["incoming-snapshot-size-bytes"] = "\(received)"
                md["download-took"] = "\(Double((NIODeadline.now() - start).nanoseconds) / 1e9)s"
                ctx.logger.info("received and saved database snapshot", metadata: md)
                SnapshotMeters.inflight(.receive, peer: senderHex, -1)
                PeerMeters(id: message.from).received.increment(by: Int64(received))
                SnapshotMeters.succeeded(.receive, peer: senderHex, seconds: Double((NIODeadline.now() - start).nanoseconds) / 1e9)
                ctx.handler.receivedSnapshot(message, dbPath: dbPath)
                answer(PeerAnswer(status: 204))
            case .failure(let e):
                ctx.logger.warning("failed to save incoming database snapshot", metadata: meta.merging(["error": "\(e)"]) { $1 })
                SnapshotMeters.inflight(.receive, peer: senderHex, -1)
                SnapshotMeters.failed(.receive, peer: senderHex)
                answer(.error(500, "failed to save KV snapshot (\(e))"))
            }
        }
    }

    /// The connection went away mid-body: remove the partial file.
    func abort() {
        guard !finished else { return }
        finished = true
        guard let file else { return }
        SnapshotMeters.inflight(.receive, peer: senderHex, -1)
        SnapshotMeters.failed(.receive, peer: senderHex)
        let loop = channel.eventLoop
        chain.flatMap { file }.flatMap { f in
            NIOThreadPool.singleton.runIfActive(eventLoop: loop) {
                close(f.fd)
                unlink(f.path)
            }
        }.whenComplete { _ in }
    }

    private func fail(_ a: PeerAnswer) {
        ctx.logger.warning("rejected incoming database snapshot", metadata: meta.merging(["status": "\(a.status)"]) { $1 })
        abort()
        finished = true
        answer(a)
    }

    private var senderHex: String { String(message?.from ?? 0, radix: 16) }

    static func hex16(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
