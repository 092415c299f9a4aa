import Logging
import NIOCore
import NIOPosix
import Synchronization

/// etcd's L4 gateway (`etcd gateway start`, etcd 3.4's `proxy/tcpproxy`): accepts TCP connections and
/// splices each to one of the endpoints, picked round-robin among those not left out; an endpoint that
/// refuses a connection is left out for the retry delay, and the next one is tried.
public final class TCPProxy: Sendable {
    private struct Remote {
        let host: String
        let port: Int
        var inactiveUntil: NIODeadline?
    }

    private struct State {
        var remotes: [Remote]
        var pickCount = 0
    }

    private let state: Mutex<State>
    private let retryDelay: TimeAmount
    private let logger: Logger
    let endpoints: [String]

    /// `endpoints` as host:port.
    public init(endpoints: [(host: String, port: Int)], retryDelay: Duration, logger: Logger) {
        state = Mutex(State(remotes: endpoints.map { Remote(host: $0.host, port: $0.port) }))
        let (seconds, attoseconds) = retryDelay.components
        self.retryDelay = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        self.logger = logger
        self.endpoints = endpoints.map { "\($0.host):\($0.port)" }
    }

    /// Binds `host:port` and serves until the listener closes; returns the listening channel once bound.
    public func listen(host: String, port: Int, group: any EventLoopGroup) async throws -> any Channel {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Nothing is read from a client until its endpoint is connected.
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { [self] channel in
                // Dial once the client's channel is active, so that joining never races its registration.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Dialer { self.connect(channel) })
                }
            }
            .bind(host: host, port: port).get()
        logger.info("ready to proxy client requests", metadata: ["endpoints": .array(endpoints.map { .string($0) })])
        return channel
    }

    /// The next active endpoint, round-robin; nil when every endpoint is left out.
    private func pick() -> (index: Int, host: String, port: Int)? {
        let now = NIODeadline.now()
        return state.withLock { s in
            for _ in 0..<s.remotes.count {
                let i = s.pickCount % s.remotes.count
                s.pickCount += 1
                if let until = s.remotes[i].inactiveUntil {
                    if now < until { continue }
                    s.remotes[i].inactiveUntil = nil
                    logger.info("activated", metadata: ["address": "\(s.remotes[i].host):\(s.remotes[i].port)"])
                }
                return (i, s.remotes[i].host, s.remotes[i].port)
            }
            return nil
        }
    }

    private func inactivate(_ index: Int, error: any Error) {
        let address = state.withLock { s in
            s.remotes[index].inactiveUntil = .now() + retryDelay
            return "\(s.remotes[index].host):\(s.remotes[index].port)"
        }
        logger.warning("deactivated endpoint",
                       metadata: ["address": "\(address)", "interval": "\(retryDelay)", "error": "\(error)"])
    }

    /// Connects `inbound` to an endpoint, trying the next on failure; closes it when none answers.
    private func connect(_ inbound: any Channel) {
        guard let remote = pick() else {
            inbound.close(promise: nil)
            return
        }
        ClientBootstrap(group: inbound.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(3))
            .connect(host: remote.host, port: remote.port)
            .whenComplete { [self] result in
                switch result {
                case .failure(let error):
                    self.inactivate(remote.index, error: error)
                    self.connect(inbound)
                case .success(let outbound):
                    Splice.join(inbound, outbound)
                }
            }
    }
}

/// Runs `dial` when its channel becomes active, then leaves.
private final class Dialer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let dial: () -> Void
    init(_ dial: @escaping () -> Void) { self.dial = dial }

    func channelActive(context: ChannelHandlerContext) {
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
        dial()
        context.fireChannelActive()
    }
}

/// Moves bytes both ways between two channels; when either side closes, so does the other. Reading
/// from one side pauses while the other cannot take more.
final class Splice: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The partner's handler and context, on the same event loop (both channels share it).
    private var partner: Splice?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    static func join(_ a: any Channel, _ b: any Channel) {
        // Both channels live on `a`'s loop: `b` was connected with `a`'s loop as its group.
        let first = Splice()
        let second = Splice()
        first.partner = second
        second.partner = first
        a.eventLoop.assertInEventLoop()
        do {
            try a.pipeline.syncOperations.addHandler(first)
            try b.pipeline.syncOperations.addHandler(second)
        } catch {
            a.close(promise: nil)
            b.close(promise: nil)
            return
        }
        // The client may have gone while the endpoint was being dialled.
        guard a.isActive else {
            b.close(promise: nil)
            return
        }
        a.setOption(.autoRead, value: true).whenFailure { _ in
            a.close(promise: nil)
            b.close(promise: nil)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        partner = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // This side drained: let the partner read again.
        if context.channel.isWritable, let p = partner?.context, p.channel.isActive {
            p.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        // Hold reads while the partner's outbound buffer is full.
        if let p = partner?.context, !p.channel.isWritable { return }
        context.read()
    }
}
