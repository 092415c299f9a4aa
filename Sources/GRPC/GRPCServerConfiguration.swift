import NIOCore

/// Settings of a gRPC server.
public struct GRPCServerConfiguration: Sendable {
    /// Largest request message accepted; larger ones fail with RESOURCE_EXHAUSTED (grpc-go's default: 4 MiB).
    public var maxReceiveMessageSize: Int = 4 << 20
    /// SETTINGS_MAX_CONCURRENT_STREAMS; streams beyond it are refused with RST_STREAM(REFUSED_STREAM).
    public var maxConcurrentStreams: UInt32 = 1000
    /// Per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE).
    public var initialWindowSize: UInt32 = 8 << 20
    /// Connection receive window.
    public var connectionWindowSize: Int32 = 64 << 20
    /// Bytes of one call's output that may wait for the peer before `ResponseStream.send` suspends.
    public var responseHighWaterMark: Int = 1 << 20
    /// Bytes of request messages a streaming handler may leave unread before the stream's receive window
    /// stops reopening (the client then waits; other streams on the connection carry on).
    public var requestBufferLimit: Int = 1 << 20
    /// Run handler tasks on the connection's event loop (task executor preference) rather than the global
    /// concurrency pool: no thread hop per call, but a handler that blocks then stalls every connection on
    /// that loop. Handlers that await other work (a proposal, a disk write on another thread) are fine.
    public var runHandlersOnEventLoop: Bool = true
    /// A connection must send its first bytes (enough to tell HTTP/2 from HTTP/1.1) within this time.
    public var protocolDetectionTimeout: TimeAmount = .seconds(20)
    /// Tells the common name of the peer's verified certificate, if the connection has one (asked
    /// once per connection, on its loop, once the first HTTP/2 bytes arrived: after any TLS
    /// handshake). Its answer reaches handlers as ``ServerContext/peerCertificateCommonName``.
    public var peerCertificateCommonName: (@Sendable (Channel) -> String?)?
    /// Installs HTTP/1.1 server handlers on a channel (the first argument; the second is the HTTP/2
    /// connection the request came on, which tells its TLS). When set, an HTTP/2 stream whose
    /// content-type is not gRPC's is served by them (see `PlainStreamBridge`), as etcd serves its HTTP
    /// endpoints over h2; when nil, such a stream is answered 415.
    public var plainHTTP: (@Sendable (_ served: Channel, _ connection: Channel) -> EventLoopFuture<Void>)?
    /// Client ping policy and server pings (etcd's `--grpc-keepalive-*`; grpc-go's semantics).
    public var keepalive = ServerKeepalive.Options()

    public init() {}
}
