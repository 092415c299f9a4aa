import GoSyntax
import NIOCore
import Synchronization

/// The four gRPC call shapes.
public enum GRPCCallKind: Sendable {
    case unary, serverStreaming, clientStreaming, bidiStreaming
}

/// Maps method paths (`/package.Service/Method`) to handlers.
///
/// Register every method before serving: each connection takes a snapshot of the table when it opens, so a
/// call never takes a lock to find its handler.
public final class GRPCRouter: Sendable {
    /// A unary handler: one request, one response; throw ``GRPCStatus`` to fail the call.
    public typealias UnaryHandler = @Sendable (ByteBuffer, ServerContext) async throws -> ByteBuffer
    /// A server-streaming handler: one request, any number of responses.
    public typealias ServerStreamingHandler = @Sendable (ByteBuffer, ResponseStream, ServerContext) async throws -> Void
    /// A client- or bidi-streaming handler.
    public typealias StreamingHandler = @Sendable (RequestStream, ResponseStream, ServerContext) async throws -> Void

    enum Handler: Sendable {
        case unary(UnaryHandler)
        case serverStreaming(ServerStreamingHandler)
        case clientStreaming(StreamingHandler)
        case bidiStreaming(StreamingHandler)
    }

    struct Table: Sendable {
        var methods: [String: Handler] = [:]
        var services: Set<String> = []
        var admission: (@Sendable (String) -> GRPCStatus?)?
        /// Call accounting by method path (see ``GRPCCallObserver``); empty when none is installed.
        var observers: [String: any GRPCCallObserver] = [:]
    }

    /// A check every call passes before its handler runs (grpc-go's interceptors do such work):
    /// given the method path, a status refuses the call. Set before serving.
    public func setAdmission(_ admit: @escaping @Sendable (_ path: String) -> GRPCStatus?) {
        table.withLock { $0.admission = admit }
    }

    private let table = Mutex(Table())

    func setObserverTable(_ observers: [String: any GRPCCallObserver]) {
        table.withLock { $0.observers = observers }
    }

    public init() {}

    public func addUnary(_ path: String, _ handler: @escaping UnaryHandler) {
        add(path, .unary(handler))
    }

    public func addServerStreaming(_ path: String, _ handler: @escaping ServerStreamingHandler) {
        add(path, .serverStreaming(handler))
    }

    public func addClientStreaming(_ path: String, _ handler: @escaping StreamingHandler) {
        add(path, .clientStreaming(handler))
    }

    public func addBidiStreaming(_ path: String, _ handler: @escaping StreamingHandler) {
        add(path, .bidiStreaming(handler))
    }

    /// The registered paths, sorted.
    public var paths: [String] { table.withLock { $0.methods.keys.sorted() } }

    private func add(_ path: String, _ handler: Handler) {
        precondition(path.hasPrefix("/") && path.dropFirst().contains("/"), "method path must be /service/method")
        let service = Self.split(path)?.service ?? ""
        table.withLock {
            $0.methods[path] = handler
            $0.services.insert(service)
        }
    }

    func snapshot() -> Table { table.withLock { $0 } }

    /// A registered handler, for a caller in the same process (the JSON gateway), which runs it with a
    /// ``ServerContext/init(localPath:metadata:remoteAddress:)`` and local streams: the same code a
    /// gRPC call runs, without a socket.
    public enum LocalHandler: Sendable {
        case unary(UnaryHandler)
        case serverStreaming(ServerStreamingHandler)
        case clientStreaming(StreamingHandler)
        case bidiStreaming(StreamingHandler)
    }

    /// The handler registered for `path`, or the status grpc-go answers when there is none.
    public func localHandler(_ path: String) -> Result<LocalHandler, GRPCStatus> {
        let table = snapshot()
        switch table.methods[path] {
        case .unary(let h): return .success(.unary(h))
        case .serverStreaming(let h): return .success(.serverStreaming(h))
        case .clientStreaming(let h): return .success(.clientStreaming(h))
        case .bidiStreaming(let h): return .success(.bidiStreaming(h))
        case nil: return .failure(Self.unimplementedStatus(path: path, table: table))
        }
    }

    /// Splits "/pkg.Service/Method" as grpc-go does (at the last '/').
    static func split(_ path: String) -> (service: String, method: String)? {
        var p = Substring(path)
        if p.first == "/" { p = p.dropFirst() }
        guard let slash = p.lastIndex(of: "/") else { return nil }
        return (String(p[..<slash]), String(p[p.index(after: slash)...]))
    }

    /// The status grpc-go returns for a path with no handler.
    static func unimplementedStatus(path: String, table: Table) -> GRPCStatus {
        guard let (service, method) = split(path) else {
            return GRPCStatus(code: .resourceExhausted, message: "malformed method name: \(GoSyntax.quote(path))")
        }
        if table.services.contains(service) {
            return GRPCStatus(code: .unimplemented, message: "unknown method \(method) for service \(service)")
        }
        return GRPCStatus(code: .unimplemented, message: "unknown service \(service)")
    }

}

/// What a handler knows about its call.
public struct ServerContext: Sendable {
    /// The method path, e.g. `/etcdserverpb.KV/Range`.
    public let path: String
    /// Custom metadata the client sent (reserved and pseudo headers removed).
    public let requestMetadata: Metadata
    /// When the client's `grpc-timeout` runs out, if it sent one; the handler's task is cancelled then.
    public let deadline: NIODeadline?
    /// The peer's address.
    public let remoteAddress: SocketAddress?
    /// The `:authority` the client named.
    public let authority: String?
    /// The common name of the client's verified TLS certificate (see
    /// ``GRPCServerConfiguration/peerCertificateCommonName``); nil without one.
    public let peerCertificateCommonName: String?
    let response: ResponseMetadata

    /// True once the call is over for the client (cancelled, reset, deadline passed). Handlers may also check
    /// `Task.isCancelled`, since the handler's task is cancelled at the same moment.
    public var isCancelled: Bool { response.isCancelled }

    /// Sets the response headers; they are sent with the first message (or the trailers, if none).
    public func setResponseHeaders(_ headers: Metadata) { response.setHeaders(headers) }
    /// Adds custom trailing metadata, sent with the final status.
    public func setTrailers(_ trailers: Metadata) { response.setTrailers(trailers) }
}

extension ServerContext {
    /// The context of an in-process call (the JSON gateway); `cancel()` ends it as a client's reset would.
    public init(localPath path: String, metadata: Metadata, remoteAddress: SocketAddress?) {
        self.init(path: path, requestMetadata: metadata, deadline: nil, remoteAddress: remoteAddress, authority: nil,
                  peerCertificateCommonName: nil, response: ResponseMetadata())
    }

    /// Marks an in-process call cancelled (its caller went away); the caller cancels the handler's task too.
    public func cancel() { response.markCancelled() }
}

/// Response headers and trailers that a handler sets from its own task and the connection reads on the loop.
final class ResponseMetadata: Sendable {
    private struct State {
        var headers = Metadata()
        var trailers = Metadata()
        var cancelled = false
    }
    private let state = Mutex(State())

    init() {}

    var isCancelled: Bool { state.withLock { $0.cancelled } }
    func markCancelled() { state.withLock { $0.cancelled = true } }
    func setHeaders(_ m: Metadata) { state.withLock { $0.headers = m } }
    func setTrailers(_ m: Metadata) { state.withLock { $0.trailers = m } }
    var headers: Metadata { state.withLock { $0.headers } }
    var trailers: Metadata { state.withLock { $0.trailers } }
}
