import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Server
import Synchronization

/// The `--listen-metrics-urls` listeners: plain HTTP/1.1 serving `/metrics` and `/health`, as
/// etcd's metrics mux does, apart from the client port.
public final class MetricsServer: Sendable {
    private let node: ServerNode
    private let listeners = Mutex<[any Channel]>([])

    public init(node: ServerNode) {
        self.node = node
    }

    /// Binds `host:port`; returns the bound port (useful with port 0).
    @discardableResult
    public func listen(host: String, port: Int, group: any EventLoopGroup) async throws -> Int {
        let node = self.node
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(HTTPEndpoints(node: node, gateway: nil))
                }
            }
            .bind(host: host, port: port).get()
        listeners.withLock { $0.append(channel) }
        return channel.localAddress?.port ?? port
    }

    public func shutdown() async {
        for listener in listeners.withLock({ $0 }) { try? await listener.close() }
    }
}
