import NIOCore
import NIOPosix
import Synchronization

/// A gRPC server: builds connection pipelines, optionally binds its own listener, and shuts down gracefully.
///
/// One port can carry gRPC (HTTP/2 with prior knowledge) and HTTP/1.1: pass `http1Fallback` and every
/// connection whose first bytes are not the HTTP/2 preface is handed to it.
///
/// ```swift
/// let router = GRPCRouter()
/// router.addUnary("/etcdserverpb.KV/Range") { request, context in ... }   // bytes in, bytes out
/// let server = GRPCServer(router: router, http1Fallback: { channel in
///     channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(MyHTTPHandler()) }
/// })
/// try await server.bind(host: "127.0.0.1", port: 2379, group: group)
/// // or, behind an own bootstrap: .childChannelInitializer { server.configurePipeline($0) }
/// await server.shutdownGracefully()
/// ```
public final class GRPCServer: Sendable {
    public let router: GRPCRouter
    public let configuration: GRPCServerConfiguration
    private let http1Fallback: (@Sendable (Channel) -> EventLoopFuture<Void>)?
    private struct State {
        var connections: [ObjectIdentifier: any Channel] = [:]
        var listener: (any Channel)?
        var shuttingDown = false
    }
    private let state = Mutex(State())

    public init(router: GRPCRouter, configuration: GRPCServerConfiguration = GRPCServerConfiguration(),
                http1Fallback: (@Sendable (Channel) -> EventLoopFuture<Void>)? = nil) {
        self.router = router
        self.configuration = configuration
        self.http1Fallback = http1Fallback
    }

    /// Sets up an accepted connection (call from a `childChannelInitializer`, after any TLS handler) and tracks
    /// it for ``shutdownGracefully(timeout:)``.
    public func configurePipeline(_ channel: Channel) -> EventLoopFuture<Void> {
        let id = ObjectIdentifier(channel)
        let refused = state.withLock { s -> Bool in
            if s.shuttingDown { return true }
            s.connections[id] = channel
            return false
        }
        if refused { return channel.close() }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.state.withLock { $0.connections.removeValue(forKey: id) }
        }
        return Self.configureServerPipeline(
            channel, router: router, configuration: configuration, http1Fallback: http1Fallback)
    }

    /// Adds the protocol sniffer to `channel`: gRPC for HTTP/2, `http1Fallback` for anything else (closed when
    /// nil). For a connection known to be HTTP/2, add a ``ServerConnectionHandler`` directly instead.
    public static func configureServerPipeline(
        _ channel: Channel, router: GRPCRouter, configuration: GRPCServerConfiguration = GRPCServerConfiguration(),
        http1Fallback: (@Sendable (Channel) -> EventLoopFuture<Void>)?
    ) -> EventLoopFuture<Void> {
        @Sendable func add() throws {
            let sniffer = ProtocolSniffer(
                onHTTP2: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ServerConnectionHandler(router: router, configuration: configuration))
                    }
                }, onOther: http1Fallback, timeout: configuration.protocolDetectionTimeout)
            try channel.pipeline.syncOperations.addHandler(sniffer)
        }
        if channel.eventLoop.inEventLoop {
            return channel.eventLoop.makeCompletedFuture { try add() }
        }
        return channel.eventLoop.submit { try add() }
    }

    /// Creates a server and binds it on `host:port` (port 0 picks a free one); see ``listeningAddress``.
    public static func bind(
        host: String, port: Int, router: GRPCRouter, group: any EventLoopGroup,
        configuration: GRPCServerConfiguration = GRPCServerConfiguration(),
        http1Fallback: (@Sendable (Channel) -> EventLoopFuture<Void>)? = nil
    ) async throws -> GRPCServer {
        let server = GRPCServer(router: router, configuration: configuration, http1Fallback: http1Fallback)
        try await server.bind(host: host, port: port, group: group)
        return server
    }

    /// The address the listener is bound to, once ``bind(host:port:group:)`` has returned.
    public var listeningAddress: SocketAddress? { state.withLock { $0.listener?.localAddress } }

    /// Binds a listener on `host:port` (port 0 picks a free one) and serves until shut down.
    /// Returns the listening channel; its `localAddress` tells the port.
    @discardableResult
    public func bind(host: String, port: Int, group: any EventLoopGroup) async throws -> Channel {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in self.configurePipeline(channel) }
            .bind(host: host, port: port).get()
        state.withLock { $0.listener = channel }
        return channel
    }

    /// Stops accepting, sends GOAWAY on every connection, lets running calls finish, then closes. Connections
    /// still open after `timeout` are closed forcibly.
    public func shutdownGracefully(timeout: TimeAmount = .seconds(30)) async {
        let (listener, connections) = state.withLock { s -> ((any Channel)?, [any Channel]) in
            s.shuttingDown = true
            return (s.listener, Array(s.connections.values))
        }
        try? await listener?.close()
        for channel in connections {
            channel.pipeline.fireUserInboundEventTriggered(GRPCGracefulShutdownEvent())
        }
        // One deadline for all connections, not one after another.
        let forced = connections.map { channel in
            channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        }
        for channel in connections { try? await channel.closeFuture.get() }
        for task in forced { task.cancel() }
    }
}
