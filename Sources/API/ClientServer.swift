import Gateway
import GRPC
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Server
import Synchronization
import TLS

/// The client port: gRPC (HTTP/2 with prior knowledge) and HTTP/1.1 on the same listener, as etcd
/// serves 2379. One instance serves every `--listen-client-urls` address. On an https listener TLS
/// comes first (ALPN offers http/1.1 and h2); the same sniffer then tells gRPC from HTTP/1.1 by
/// the decrypted bytes, so both kinds of listener share one pipeline.
public final class ClientServer: Sendable {
    /// etcd lets a gRPC message exceed `--max-request-bytes` by this much before gRPC refuses it,
    /// so that the server's own "request is too large" answers the common case.
    static let grpcOverheadBytes = 512 * 1024

    private let grpc: GRPCServer
    private let logger: Logger
    private let listeners = Mutex<[any Channel]>([])

    /// `access`: `--cors` and `--host-whitelist` (etcd's access controller).
    public init(node: ServerNode, logger: Logger, access: ClientPortAccess = ClientPortAccess()) {
        let router = GRPCRouter()
        KVService(node: node).register(on: router)
        MaintenanceService(node: node).register(on: router)
        ClusterService(node: node).register(on: router)
        LeaseService(node: node).register(on: router)
        WatchService(node: node).register(on: router)
        ConcurrencyServices(node: node).register(on: router)
        AuthService(node: node).register(on: router)
        // etcd's learner serves Status and serializable ranges only (the range checks the rest).
        router.setAdmission { path in
            guard node.isLearner, path != "/etcdserverpb.Maintenance/Status", path != "/etcdserverpb.KV/Range" else { return nil }
            return ServerError.notSupportedForLearner.grpcStatus
        }
        GRPCMetricsObserver.install(on: router, extensive: node.options.extensiveMetrics)
        var configuration = GRPCServerConfiguration()
        configuration.maxReceiveMessageSize = node.options.maxRequestBytes + Self.grpcOverheadBytes
        // grpc-go reads a limit of 0 as none.
        let streams = node.options.maxConcurrentStreams == 0 ? UInt32.max : node.options.maxConcurrentStreams
        configuration.maxConcurrentStreams = streams
        configuration.keepalive = ServerKeepalive.Options(minTime: node.options.grpcKeepaliveMinTime,
                                                          interval: node.options.grpcKeepaliveInterval,
                                                          timeout: node.options.grpcKeepaliveTimeout)
        // Only `--client-cert-auth` makes the certificate's name a user; spare the parse otherwise.
        if node.options.clientCertAuth { configuration.peerCertificateCommonName = TLSEndpoint.verifiedPeerCommonName }
        self.logger = logger
        // etcd's gateway reaches gRPC over one connection, so the stream limit bounds its calls too.
        let gateway = Gateway(router: router, maxMessageBytes: configuration.maxReceiveMessageSize,
                              maxConcurrentStreams: streams, access: access)
        // `connection`: where the request came from (an HTTP/2 stream's requests are served on a
        // channel of their own), which tells its TLS and client certificate.
        let http: @Sendable (Channel, Channel) -> EventLoopFuture<Void> = { channel, connection in
            // etcd's gateway also answers WebSocket upgrades (grpc-websocket-proxy), behind its
            // access controller: a refused request is not upgraded but answered by HTTPEndpoints.
            let upgrader = gateway.webSocketUpgrader(leaveHTTP: { $0.pipeline.removeHandler(name: "http-endpoints") },
                                                     refuses: { HTTPEndpoints.refusal(of: $0, on: connection, node: node, access: access) != nil })
            let upgrade: NIOHTTPServerUpgradeSendableConfiguration = (upgraders: [upgrader], completionHandler: { _ in })
            return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: upgrade, withErrorHandling: true).flatMap {
                channel.pipeline.addHandler(HTTPEndpoints(node: node, gateway: gateway, connection: connection), name: "http-endpoints")
            }
        }
        // HTTP/2 streams that are not gRPC calls (an h2-only client's JSON) reach the same handlers.
        configuration.plainHTTP = http
        grpc = GRPCServer(router: router, configuration: configuration, http1Fallback: { http($0, $0) })
    }

    /// ALPN protocols offered on a TLS client port, in the server's order of preference. gRPC
    /// clients offer only h2 and get it; a client offering both (curl) gets HTTP/1.1, because the
    /// HTTP endpoints are served over HTTP/1.1 only (etcd also serves them over h2).
    public static let alpn = ["http/1.1", "h2"]

    /// Binds `host:port`, serving TLS when `tls` is given; returns the bound port (useful with port 0).
    @discardableResult
    public func listen(host: String, port: Int, group: any EventLoopGroup, tls: TLSEndpoint? = nil) async throws -> Int {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [grpc] channel in
                if let tls {
                    do {
                        try tls.addServerHandlers(to: channel)
                    } catch {
                        return channel.close()
                    }
                }
                return grpc.configurePipeline(channel)
            }
            .bind(host: host, port: port).get()
        listeners.withLock { $0.append(channel) }
        return channel.localAddress?.port ?? port
    }

    /// Sends GOAWAY to every client, lets running calls finish (up to `timeout`), then closes.
    /// Watch and keepalive streams never finish by themselves, so the wait is short.
    public func shutdown(timeout: TimeAmount = .seconds(1)) async {
        for listener in listeners.withLock({ $0 }) { try? await listener.close() }
        await grpc.shutdownGracefully(timeout: timeout)
    }
}
