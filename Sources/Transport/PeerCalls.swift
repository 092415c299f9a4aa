// Requests a member makes of one peer URL outside raft's traffic, each on a connection of its own
// as etcd's http.Client over the peer round tripper: promote forwarding (POST
// /members/promote/<id>) and corruption checks (GET /members/hashkv with a JSON body).
import NIOCore
import NIOHTTP1
import TLS

public enum PeerCalls {
    public struct Answer: Sendable, Equatable {
        public var status: Int
        public var body: [UInt8]

        public init(status: Int, body: [UInt8]) {
            self.status = status
            self.body = body
        }
    }

    /// POST `path` with an empty body (promoteMemberHTTP). Throws when no answer came in time.
    public static func post(url: String, path: String, tls: TLSEndpoint?, on loop: any EventLoop, timeout: Duration) async throws -> Answer {
        try await call(url: url, method: .POST, path: path, headers: [], body: .none, tls: tls, on: loop, timeout: timeout)
    }

    /// GET `path` with a JSON body (getPeerHashKVHTTP sends its HashKVRequest that way).
    public static func get(url: String, path: String, json: [UInt8], tls: TLSEndpoint?, on loop: any EventLoop, timeout: Duration) async throws -> Answer {
        try await call(url: url, method: .GET, path: path, headers: [("Content-Type", "application/json")],
                       body: .bytes(ByteBuffer(bytes: json)), tls: tls, on: loop, timeout: timeout)
    }

    private static func call(url: String, method: HTTPMethod, path: String, headers: [(String, String)], body: RequestBody,
                             tls: TLSEndpoint?, on loop: any EventLoop, timeout: Duration) async throws -> Answer {
        guard let peer = PeerURL(url) else { throw TransportError.noPeerURL }
        let (secs, atto) = timeout.components
        let amount = TimeAmount.nanoseconds(max(0, secs * 1_000_000_000 + atto / 1_000_000_000))
        let r = try await PeerHTTPClient.request(on: loop, url: peer, tls: tls, method: method, path: path, headers: headers, body: body,
                                                 connectTimeout: amount, timeout: amount).get()
        return Answer(status: r.status, body: r.body)
    }
}
