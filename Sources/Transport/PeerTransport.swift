// The public face of the peer transport (rafthttp.Transport): peer listeners, the set of peers
// and remotes, sending, snapshot sending and the follower -> leader lease forwarding client.
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Raft
import Synchronization
import TLS

#if canImport(Glibc)
import Glibc
#endif

/// Sendable: immutable references plus a `Mutex` over the peer maps and channels. Each `Peer`
/// is confined to its own event loop; calls here hop to it and never block.
public final class PeerTransport: Sendable {
    let ctx: TransportContext
    private let group: any EventLoopGroup
    private let state = Mutex(State())
    /// Kept-alive connections for lease forwarding.
    private let leaseClient: PooledClient

    private struct State {
        var peers: [UInt64: Peer] = [:]
        /// Members known only from X-PeerURLs of their requests: pipeline only (rafthttp remote).
        var remotes: [UInt64: Peer] = [:]
        var listeners: [Channel] = []
        var inbound: [ObjectIdentifier: Channel] = [:]
        var stopped = false
    }

    public init(localID: UInt64, clusterID: UInt64, localPeerURLs: [String], serverVersion: String = "3.4.23",
                clusterVersion: String? = "3.4.0", snapDir: String, handler: any PeerHandler,
                group: any EventLoopGroup, logger: Logger, limits: TransportLimits = TransportLimits(),
                tls: TLSEndpoint? = nil) {
        ctx = TransportContext(localID: localID, clusterID: clusterID, localPeerURLs: localPeerURLs,
                               serverVersion: serverVersion, clusterVersion: clusterVersion, snapDir: snapDir,
                               handler: handler, limits: limits, logger: logger, tls: tls)
        leaseClient = PooledClient(tls: tls)
        self.group = group
    }

    public var localID: UInt64 { ctx.localID }
    public var clusterID: UInt64 { ctx.clusterID }

    /// For a member that learns the cluster id after start (joining an existing cluster).
    public func setClusterID(_ id: UInt64) { ctx.clusterID = id }

    /// The cluster version served by GET /version (nil: "not_decided").
    public func setClusterVersion(_ v: String?) { ctx.clusterVersion = v }

    /// Binds the peer listeners; an https URL needs the transport's TLS and serves it (with etcd's
    /// client certificate checks). Returns the bound ports.
    @discardableResult
    public func listen(urls: [String]) async throws -> [Int] {
        var ports: [Int] = []
        for s in urls {
            guard let url = PeerURL(s) else { throw TransportError.noPeerURL }
            let tls = url.isSecure ? ctx.tls : nil
            guard !url.isSecure || tls != nil else { throw TransportError.unsupportedScheme(url.scheme) }
            let timeout = TimeAmount.milliseconds(ctx.limits.connTimeout)
            var bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            if url.socketPath == nil { bootstrap = bootstrap.childChannelOption(.socketOption(.tcp_nodelay), value: 1) }
            bootstrap = bootstrap
                .childChannelInitializer { [self] channel in
                    do {
                        if let tls { try tls.addServerHandlers(to: channel) }
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: timeout))
                        try channel.pipeline.syncOperations.addHandler(PeerServerHandler(transport: self))
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                    return trackInbound(channel)
                }
            let channel: Channel
            if let path = url.socketPath {
                // As etcd: whatever file has the name (a socket an earlier run left) is removed.
                if unlink(path) != 0 && errno != ENOENT {
                    throw TransportError.file("cannot remove \(path): \(String(cString: strerror(errno)))")
                }
                channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
            } else {
                channel = try await bootstrap.bind(host: url.host, port: url.port).get()
            }
            state.withLock { $0.listeners.append(channel) }
            ports.append(channel.localAddress?.port ?? url.port)
            ctx.logger.info("listening for peers", metadata: ["address": "\(s)"])
        }
        return ports
    }

    private func trackInbound(_ channel: Channel) -> EventLoopFuture<Void> {
        let key = ObjectIdentifier(channel)
        let stopped = state.withLock { s -> Bool in
            if !s.stopped { s.inbound[key] = channel }
            return s.stopped
        }
        if stopped { return channel.close() }
        channel.closeFuture.whenComplete { [self] _ in _ = state.withLock { $0.inbound.removeValue(forKey: key) } }
        return channel.eventLoop.makeSucceededVoidFuture()
    }

    private func parse(_ urls: [String]) -> [PeerURL] {
        urls.compactMap { s in
            let u = PeerURL(s)
            if u == nil { ctx.logger.error("invalid peer URL", metadata: ["url": "\(s)"]) }
            return u
        }
    }

    /// Starts the streams and pipeline to a member. A known remote becomes a full peer.
    public func addPeer(id: UInt64, urls: [String]) {
        guard id != ctx.localID else { return }
        let parsed = parse(urls)
        let peer: Peer? = state.withLock { s in
            if s.stopped || s.peers[id] != nil { return nil }
            let p = s.remotes.removeValue(forKey: id) ?? Peer(id: id, urls: parsed, loop: group.next(), ctx: ctx)
            s.peers[id] = p
            return p
        }
        guard let peer else { return }
        peer.loop.execute {
            peer.update(urls: parsed)
            peer.enableStreams()
        }
        ctx.logger.info("added remote peer", metadata: ["local-member-id": "\(ctx.localHex)", "remote-peer-id": "\(EtcdID.hex(id))",
                                                        "remote-peer-urls": "\(urls)"])
    }

    /// rafthttp AddRemote: a pipeline-only route to a member this one does not know yet.
    public func addRemote(id: UInt64, urls: [String]) {
        guard id != ctx.localID else { return }
        let parsed = parse(urls)
        guard !parsed.isEmpty else { return }
        let added = state.withLock { s -> Bool in
            if s.stopped || s.peers[id] != nil || s.remotes[id] != nil { return false }
            s.remotes[id] = Peer(id: id, urls: parsed, loop: group.next(), ctx: ctx)
            return true
        }
        if added {
            ctx.logger.info("added new remote peer", metadata: ["local-member-id": "\(ctx.localHex)",
                                                                "remote-peer-id": "\(EtcdID.hex(id))", "remote-peer-urls": "\(urls)"])
        }
    }

    public func removePeer(id: UInt64) {
        let peer = state.withLock { s in s.peers.removeValue(forKey: id) ?? s.remotes.removeValue(forKey: id) }
        guard let peer else { return }
        peer.loop.execute { peer.stop() }
        ctx.logger.info("removed remote peer", metadata: ["local-member-id": "\(ctx.localHex)", "removed-remote-peer-id": "\(EtcdID.hex(id))"])
    }

    public func removeAllPeers() {
        for id in state.withLock({ Array($0.peers.keys) }) { removePeer(id: id) }
    }

    public func updatePeer(id: UInt64, urls: [String]) {
        let parsed = parse(urls)
        guard let peer = state.withLock({ $0.peers[id] }) else { return }
        peer.loop.execute { peer.update(urls: parsed) }
        ctx.logger.info("updated remote peer", metadata: ["local-member-id": "\(ctx.localHex)",
                                                          "updated-remote-peer-id": "\(EtcdID.hex(id))", "updated-remote-peer-urls": "\(urls)"])
    }

    /// Non-blocking, any thread. Messages to unknown members (and To == 0) are dropped.
    public func send(_ messages: [Raft.Message]) {
        var byPeer: [UInt64: [Raft.Message]] = [:]
        for m in messages where m.to != 0 { byPeer[m.to, default: []].append(m) }
        for (to, batch) in byPeer {
            guard let peer = state.withLock({ $0.peers[to] ?? $0.remotes[to] }) else {
                ctx.logger.debug("ignored message send request; unknown remote peer target",
                                 metadata: ["unknown-target-peer-id": "\(EtcdID.hex(to))"])
                continue
            }
            // On the peer's own loop (the raft loop, which the transport shares) the messages are
            // written now: deferring them would queue them behind the rest of the caller's task,
            // and a leader's appends behind its own fsync.
            if peer.loop.inEventLoop {
                peer.send(batch)
            } else {
                peer.loop.execute { peer.send(batch) }
            }
        }
    }

    /// Posts the message and then the database file at `dbPath`; the outcome goes to
    /// `handler.reportSnapshot`.
    public func sendSnapshot(_ message: Raft.Message, dbPath: String) {
        guard let peer = state.withLock({ $0.peers[message.to] }) else {
            ctx.handler.reportSnapshot(message.to, failed: true)
            return
        }
        peer.loop.execute { peer.sendSnapshot(message, dbPath: dbPath) }
    }

    public func isActive(_ id: UInt64) -> Bool {
        state.withLock { $0.peers[id] }?.activity.isActive ?? false
    }

    /// Unix time (ns) since when the peer has been active; nil while inactive or unknown.
    public func activeSince(_ id: UInt64) -> Int64? {
        state.withLock { $0.peers[id] }?.activity.activeSince
    }

    public func activePeers() -> Int {
        state.withLock { Array($0.peers.values) }.filter { $0.activity.isActive }.count
    }

    /// Follower -> leader lease forwarding (leasehttp.RenewHTTP / TimeToLiveHTTP): POSTs `body`
    /// to each of the leader's peer URLs + `path` in turn. Returns the 200 body; a non-200 answer
    /// throws `TransportError.http` (404: lease not found, 408: leader apply timeout).
    public func forwardLease(to peerURLs: [String], path: String, body: [UInt8], timeout: Duration) async throws -> [UInt8] {
        let (secs, atto) = timeout.components
        let deadline = NIODeadline.now() + .nanoseconds(secs * 1_000_000_000 + atto / 1_000_000_000)
        var lastError: Error = TransportError.noPeerURL
        for url in parse(peerURLs) {
            let left = deadline - .now()
            if left <= .zero { throw TransportError.timeout }
            do {
                let r = try await leaseClient.request(
                    on: group.next(), url: url, method: .POST, path: path,
                    headers: [("Content-Type", "application/protobuf")], body: ByteBuffer(bytes: body),
                    connectTimeout: min(left, .milliseconds(ctx.limits.dialTimeout)), timeout: left).get()
                if r.status == 200 { return r.body }
                var text = String(decoding: r.body, as: UTF8.self)
                if text.hasSuffix("\n") { text.removeLast() }
                throw TransportError.http(status: r.status, body: text)
            } catch let e as TransportError {
                if case .http = e { throw e }
                lastError = e
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// Closes the listeners and every connection, stops all peers.
    public func stop() async {
        let (peers, channels) = state.withLock { s -> ([Peer], [Channel]) in
            s.stopped = true
            let p = Array(s.peers.values) + Array(s.remotes.values)
            let c = s.listeners + Array(s.inbound.values)
            s.peers = [:]
            s.remotes = [:]
            s.listeners = []
            s.inbound = [:]
            return (p, c)
        }
        for p in peers { try? await p.loop.submit { p.stop() }.get() }
        for c in channels { try? await c.close() }
        leaseClient.closeAll()
    }

    // MARK: for the inbound handler

    func hasPeer(_ id: UInt64) -> Bool { state.withLock { $0.peers[id] != nil } }

    func isKnown(_ id: UInt64) -> Bool { state.withLock { $0.peers[id] != nil || $0.remotes[id] != nil } }

    func attachStream(_ kind: StreamKind, from: UInt64, channel: Channel) {
        guard let peer = state.withLock({ $0.peers[from] }) else {
            channel.close(promise: nil)
            return
        }
        peer.loop.execute { peer.attach(kind, channel: channel) }
    }
}

extension PeerTransport {
    /// The stream kinds currently carrying our messages to `id` (tests and diagnostics).
    func workingStreams(to id: UInt64) async -> Set<StreamKind> {
        guard let peer = state.withLock({ $0.peers[id] }) else { return [] }
        return (try? await peer.loop.submit { peer.workingStreams }.get()) ?? []
    }
}
