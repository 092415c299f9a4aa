// Peer port decoders: the "message" and msgappv2 streams, the pipeline and snapshot bodies, and
// the peer HTTP routes. Every message that passes InboundValidator is stepped into a raft member.
import EtcdProto
import Gateway
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Raft
import Transport

#if canImport(Glibc)
import Glibc
#endif

extension FuzzTargets {
    static let peerMessageStream = FuzzTarget(
        name: "peer-message-stream", summary: "rafthttp \"message\" stream (MessageStreamDecoder) -> validation -> raft",
        run: { bytes in
            var r = InputReader(bytes)
            let cuts = r.byte(), mode = r.byte()
            var decoder = MessageStreamDecoder(maxMessageBytes: 1 << 16)
            let raft = RaftHarness(mode: mode)
            for chunk in chunks(r.rest, sizes: cuts) {
                decoder.feed(ByteBuffer(bytes: chunk))
                do {
                    while let pb = try decoder.next() { deliver(pb, path: .stream, to: raft, ticks: Int(mode >> 4)) }
                } catch {
                    return  // the stream is closed
                }
            }
        },
        seeds: {
            var out: [[UInt8]] = []
            for m in sampleMessages() {
                var b = ByteBuffer()
                for x in [Raftpb_Message.linkHeartbeatForSeed, Raftpb_Message(m)] {
                    let pb = x.serializedBytes()
                    b.writeInteger(UInt64(pb.count))
                    b.writeBytes(pb)
                }
                out.append([0, 0] + Array(b.readableBytesView))
            }
            return out
        })

    static let peerMsgAppV2 = FuzzTarget(
        name: "peer-msgappv2", summary: "rafthttp msgappv2 stream (MsgAppV2Decoder) -> validation -> raft",
        run: { bytes in
            var r = InputReader(bytes)
            let cuts = r.byte(), mode = r.byte()
            var decoder = MsgAppV2Decoder(local: RaftHarness.local, remote: 2, maxMessageBytes: 1 << 16)
            let raft = RaftHarness(mode: mode)
            for chunk in chunks(r.rest, sizes: cuts) {
                decoder.feed(ByteBuffer(bytes: chunk))
                do {
                    while let pb = try decoder.next() { deliver(pb, path: .stream, to: raft, ticks: Int(mode >> 4)) }
                } catch {
                    return
                }
            }
        },
        seeds: {
            // A full message that sets term/index, then AppEntries continuing it, then a heartbeat.
            var encoder = MsgAppV2Encoder()
            var b = ByteBuffer()
            let first = Message(type: .app, to: 1, from: 2, term: 3, logTerm: 2, index: 3,
                                entries: [Entry(term: 3, index: 4, data: [1, 2])], commit: 3)
            encoder.encode(first, into: &b)
            let next = Message(type: .app, to: 1, from: 2, term: 3, logTerm: 3, index: 4,
                               entries: [Entry(term: 3, index: 5), Entry(term: 3, index: 6, data: [9])], commit: 5)
            encoder.encode(next, into: &b)
            encoder.encodeLinkHeartbeat(into: &b)
            encoder.encode(Message(type: .heartbeat, to: 1, from: 2, term: 3, commit: 4), into: &b)
            return [[0, 0] + Array(b.readableBytesView), [5, 2] + Array(b.readableBytesView)]
        })

    /// POST /raft (one raftpb.Message as the whole body) or /raft/snapshot (framed MsgSnap, then
    /// the database, which is not read here); byte 0 picks.
    static let peerPipeline = FuzzTarget(
        name: "peer-pipeline", summary: "rafthttp pipeline and snapshot bodies -> validation -> raft",
        run: { bytes in
            var r = InputReader(bytes)
            let kind = r.byte(), mode = r.byte()
            let raft = RaftHarness(mode: mode)
            let body = Array(r.rest)
            if kind & 1 == 0 {
                guard let pb = try? Raftpb_Message(serializedBytes: body) else { return }
                deliver(pb, path: .pipeline, to: raft, ticks: Int(mode >> 4))
            } else {
                var decoder = MessageStreamDecoder(maxMessageBytes: 1 << 16)
                decoder.feed(ByteBuffer(bytes: body))
                guard let pb = try? decoder.next() else { return }
                deliver(pb, path: .snapshot, to: raft, ticks: Int(mode >> 4))
            }
        },
        seeds: {
            var out = sampleMessages().map { [0, 0] + Raftpb_Message($0).serializedBytes() }
            let snap = Message(type: .snap, to: 1, from: 2, term: 5,
                               snapshot: Snapshot(data: [1, 2, 3], metadata: SnapshotMetadata(
                                   confState: ConfState(voters: [1, 2, 3]), index: 10, term: 5)))
            var b = ByteBuffer()
            let pb = Raftpb_Message(snap).serializedBytes()
            b.writeInteger(UInt64(pb.count))
            b.writeBytes(pb)
            b.writeBytes(Array("database bytes".utf8))
            out.append([1, 0] + Array(b.readableBytesView))
            return out
        })

    /// The peer listener's HTTP/1.1 side: NIOHTTP1's parser, then what PeerServerHandler decides
    /// from the head (routes, compatibility headers, stream dial checks) and decodes from bodies.
    static let peerHTTP = FuzzTarget(
        name: "peer-http", summary: "peer port HTTP/1.1 requests: routes, headers, stream decisions, bodies",
        run: { bytes in
            var r = InputReader(bytes)
            let cuts = r.byte()
            let channel = EmbeddedChannel()
            do {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                try channel.pipeline.syncOperations.addHandler(PeerRequestChecker())
            } catch {
                preconditionFailure("cannot build the peer pipeline: \(error)")
            }
            for chunk in chunks(r.rest, sizes: cuts) {
                guard channel.isActive else { break }
                do { try channel.writeInbound(channel.allocator.buffer(bytes: chunk)) } catch { break }
                while (try? channel.readOutbound(as: IOData.self)) ?? nil != nil {}
            }
            _ = try? channel.finish(acceptAlreadyClosed: true)
        },
        seeds: {
            let headers = "X-Server-From: 2\r\nX-Server-Version: 3.4.23\r\nX-Min-Cluster-Version: 3.0.0\r\nX-Etcd-Cluster-ID: 1000\r\n"
            let msg = Raftpb_Message(Message(type: .heartbeat, to: 1, from: 2, term: 3)).serializedBytes()
            let post = Array("POST /raft HTTP/1.1\r\nHost: p\r\n\(headers)Content-Length: \(msg.count)\r\n\r\n".utf8) + msg
            let stream = "GET /raft/stream/msgappv2/2 HTTP/1.1\r\nHost: p\r\n\(headers)X-Raft-To: 1\r\nX-PeerURLs: http://a:2380,http://b:2380\r\n\r\n"
            let misc = "GET /members HTTP/1.1\r\nHost: p\r\n\r\nPOST /members/promote/ab12 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
                + "GET /members/hashkv HTTP/1.1\r\nContent-Length: 14\r\n\r\n{\"revision\":3}GET /version?x=1 HTTP/1.1\r\n\r\n"
            var lease = Etcdserverpb_LeaseKeepAliveRequest()
            lease.id = 42
            let body = lease.serializedBytes()
            let leases = Array("POST /leases HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
            return [[0] + post, [3] + Array(stream.utf8), [0] + Array(misc.utf8), [7] + leases]
        })
}

extension Raftpb_Message {
    static var linkHeartbeatForSeed: Raftpb_Message { Raftpb_Message(Message(type: .heartbeat)) }
}

/// Messages a peer of member 1 sends in a healthy cluster.
func sampleMessages() -> [Message] {
    [Message(type: .app, to: 1, from: 2, term: 3, logTerm: 2, index: 3,
             entries: [Entry(term: 3, index: 4, data: [7]), Entry(term: 3, index: 5, type: .confChange, data: [])], commit: 4),
     Message(type: .heartbeat, to: 1, from: 2, term: 3, commit: 2, context: [1]),
     Message(type: .vote, to: 1, from: 3, term: 4, logTerm: 2, index: 3),
     Message(type: .appResp, to: 1, from: 2, term: 2, index: 3, reject: true, rejectHint: 2),
     Message(type: .readIndex, to: 1, from: 3, term: 2, entries: [Entry(data: [1, 2, 3, 4, 5, 6, 7, 8])]),
     Message(type: .prop, to: 1, from: 3, term: 0, entries: [Entry(data: [5])]),
     Message(type: .timeoutNow, to: 1, from: 2, term: 2)]
}

/// FUZZ_TRACE=1 prints every message stepped (to read a crash's input).
private let traceMessages = getenv("FUZZ_TRACE") != nil

/// Validates `pb` as the transport does and, if it passes, steps it.
private func deliver(_ pb: Raftpb_Message, path: InboundPath, to raft: RaftHarness, ticks: Int) {
    if pb.isLinkHeartbeat { return }
    let validator = InboundValidator(localID: RaftHarness.local)
    guard let m = try? validator.validate(pb, path: path, expectedFrom: pb.from ?? 0,
                                          isKnown: { RaftHarness.peers.contains($0) },
                                          isRemoved: { $0 == RaftHarness.removed }) else { return }
    if traceMessages {
        let line = Array("step \(m) into \(raft.node.raftState) term \(raft.node.term) last \((try? raft.storage.lastIndex()) ?? 0)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
    raft.step(m, ticks: ticks)
}

/// What PeerServerHandler computes from a request, without a transport behind it.
private final class PeerRequestChecker: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private let version = SemVer(major: 3, minor: 4, patch: 23)
    private let minVersion = SemVer(major: 3, minor: 0, patch: 0)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
            let path = PeerRoute.path(of: h.uri)
            let route = PeerRoute(path: path)
            _ = PeerProtocol.checkCompatibility(h.headers, clusterID: 0x1000, serverVersion: version, minClusterVersion: minVersion)
            _ = h.headers.first(name: PeerHeader.serverFrom).flatMap(EtcdID.parse)
            _ = (h.headers.first(name: PeerHeader.peerURLs) ?? "").split(separator: ",").map(String.init)
            if case .stream = route {
                _ = PeerProtocol.decideStream(method: h.method, path: path, headers: h.headers, localID: 1, clusterID: 0x1000,
                                              serverVersion: version, minClusterVersion: minVersion,
                                              isRemoved: { $0 == 4 }, isPeer: { $0 == 2 || $0 == 3 })
            }
            if case .promote(let text) = route { _ = PeerRoute.promoteID(text) }
        case .body(var chunk):
            if body.readableBytes + chunk.readableBytes <= 1 << 16 { body.writeBuffer(&chunk) }
        case .end:
            guard let h = head else { return }
            head = nil
            let bytes = Array(body.readableBytesView)
            switch PeerRoute(path: PeerRoute.path(of: h.uri)) {
            case .pipeline:
                if let pb = try? Raftpb_Message(serializedBytes: bytes) {
                    _ = try? InboundValidator(localID: 1).validate(pb, path: .pipeline, expectedFrom: 2,
                                                                   isKnown: { $0 == 2 }, isRemoved: { _ in false })
                }
            case .snapshot:
                var d = MessageStreamDecoder(maxMessageBytes: 1 << 16)
                d.feed(body)
                if let pb = try? d.next() {
                    _ = try? InboundValidator(localID: 1).validate(pb, path: .snapshot, expectedFrom: 2,
                                                                   isKnown: { $0 == 2 }, isRemoved: { _ in false })
                }
            case .leases:
                _ = try? Etcdserverpb_LeaseKeepAliveRequest(serializedBytes: bytes)
            case .leasesInternal:
                _ = try? Leasepb_LeaseInternalRequest(serializedBytes: bytes)
            case .hashKV:
                _ = JSONParser.next(bytes, complete: true)
            default:
                break
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: .noContent, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
