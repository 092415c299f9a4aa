import GRPC
import NIOCore
import NIOHTTP1

/// etcd's JSON gateway (`/v3/...`, grpc-gateway in etcd 3.4) over the gRPC handlers registered on a
/// ``GRPCRouter``: a request's JSON becomes the method's protobuf request, the very handler a gRPC call
/// runs answers it in-process, and its protobuf responses are written back as JSON.
public final class Gateway: Sendable {
    let router: GRPCRouter
    /// The largest request message gRPC accepts (`--max-request-bytes` plus gRPC's allowance).
    let maxMessageBytes: Int
    /// Calls in flight at once (`--max-concurrent-streams`); nil when unbounded.
    let slots: StreamSlots?
    /// `--cors` and `--host-whitelist`: the CORS headers of its answers, the requests refused.
    public let access: ClientPortAccess

    public init(router: GRPCRouter, maxMessageBytes: Int, maxConcurrentStreams: UInt32 = .max,
                access: ClientPortAccess = ClientPortAccess()) {
        self.router = router
        self.maxMessageBytes = maxMessageBytes
        self.access = access
        slots = maxConcurrentStreams == .max ? nil : StreamSlots(capacity: Int(maxConcurrentStreams))
    }

    /// Whether `path` belongs to the gateway (etcd mounts it at `/v3/`; `/v3beta/` is rewritten to it).
    public static func serves(path: String) -> Bool {
        path.hasPrefix("/v3/") || path.hasPrefix("/v3beta/")
    }

    /// Starts one request; the caller feeds it the body and the end, and tells it when the channel closes.
    /// `done` runs on the event loop once the response is complete.
    public func exchange(head: HTTPRequestHead, context: ChannelHandlerContext, done: @escaping () -> Void) -> GatewayExchange {
        GatewayExchange(gateway: self, head: head, context: context, done: done)
    }
}

extension GRPCStatus.Code {
    /// grpc-gateway's HTTPStatusFromCode.
    var httpStatus: HTTPResponseStatus {
        switch self {
        case .ok: .ok
        case .cancelled: .requestTimeout
        case .invalidArgument, .outOfRange: .badRequest
        case .deadlineExceeded: .gatewayTimeout
        case .notFound: .notFound
        case .alreadyExists, .aborted: .conflict
        case .permissionDenied: .forbidden
        case .unauthenticated: .unauthorized
        case .resourceExhausted: .tooManyRequests
        case .failedPrecondition: .preconditionFailed
        case .unimplemented: .notImplemented
        case .unavailable: .serviceUnavailable
        default: .internalServerError
        }
    }
}

/// The JSON bodies grpc-gateway writes for errors.
enum ErrorBodies {
    /// A failed call: `{"error":..,"message":..,"code":..}` (jsonpb leaves out an empty message).
    static func unary(_ status: GRPCStatus) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{")
        if !status.message.isEmpty {
            w.raw("\"error\":")
            w.string(status.message)
            w.raw(",\"message\":")
            w.string(status.message)
            w.raw(",")
        }
        w.raw("\"code\":\(status.code.rawValue)}")
        return w.bytes
    }

    /// A stream that fails after its first message: `{"error":{grpc_code, http_code, message, http_status}}`.
    static func stream(_ status: GRPCStatus) -> [UInt8] {
        let http = status.code.httpStatus
        var w = JSONWriter()
        w.raw("{\"error\":{\"grpc_code\":\(status.code.rawValue),\"http_code\":\(http.code)")
        if !status.message.isEmpty {
            w.raw(",\"message\":")
            w.string(status.message)
        }
        w.raw(",\"http_status\":")
        w.string(http.reasonPhrase)
        w.raw("}}")
        return w.bytes
    }
}
