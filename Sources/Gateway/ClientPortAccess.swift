import GoSyntax
import NIOHTTP1

/// etcd's access controller on the client port (embed/serve.go), as decisions without a socket:
/// which requests are refused before routing, and which CORS headers an answer carries.
public struct ClientPortAccess: Sendable {
    /// `--cors`: origins allowed to read answers ("*" or an empty set: any).
    public var cors: Set<String>
    /// `--host-whitelist`: hostnames a plain-HTTP request may name in `Host` ("*" or empty: any).
    public var hostWhitelist: Set<String>

    public init(cors: Set<String> = ["*"], hostWhitelist: Set<String> = ["*"]) {
        self.cors = cors
        self.hostWhitelist = hostWhitelist
    }

    /// Why a request is refused before it is routed.
    public enum Refusal: Equatable, Sendable {
        /// A plain-HTTP request naming a host outside the whitelist (DNS rebinding): 421.
        case misdirected(host: String)
        /// Under `--client-cert-auth` with auth on, a TLS request under `/v3/` from a certificate
        /// with a common name: the gateway would not act as that user, so etcd says so (400).
        case commonName

        /// What etcd logs (a warning), if anything.
        public var logLine: String? {
            guard case .misdirected(let host) = self else { return nil }
            return "rejecting HTTP request from \(GoSyntax.quote(host)) to prevent DNS rebinding attacks"
        }
    }

    /// The refusal etcd's controller makes of `head`, in its order; nil to serve it. `tls`: the
    /// request came over TLS; `peerCommonName`: the client certificate's common name, if any;
    /// `certificateUsers`: `--client-cert-auth` is on and auth is enabled.
    public func refusal(of head: HTTPRequestHead, tls: Bool, peerCommonName: String?,
                        certificateUsers: Bool) -> Refusal? {
        if !tls {
            let host = Self.hostname(head.headers.first(name: "Host") ?? "")
            return allowsHost(host) ? nil : .misdirected(host: host)
        }
        guard certificateUsers, !(peerCommonName ?? "").isEmpty else { return nil }
        return Gateway.serves(path: GatewayRequests.path(head.uri)) ? .commonName : nil
    }

    /// Status and text body (Go's http.Error) of a refusal.
    public static func answer(_ refusal: Refusal) -> (HTTPResponseStatus, String) {
        switch refusal {
        case .misdirected(let host):
            return (.misdirectedRequest, """

                etcd received your request, but the Host header was unrecognized.

                To fix this, choose one of the following options:
                - Enable TLS, then any HTTPS request will be allowed.
                - Add the hostname you want to use to the whitelist in settings.
                  - e.g. etcd --host-whitelist \(GoSyntax.quote(host))

                This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).

                """)
        case .commonName:
            return (.badRequest, "CommonName of client sending a request against gateway will be ignored and not used as expected\n")
        }
    }

    func allowsHost(_ host: String) -> Bool {
        hostWhitelist.isEmpty || hostWhitelist.contains("*") || hostWhitelist.contains(host)
    }

    /// Adds etcd's CORS headers: with "*" allowed, for any request; otherwise only for a request
    /// whose `Origin` is allowed, naming that origin.
    public func addCORS(to headers: inout HTTPHeaders, origin: String?) {
        let allowed: String
        if cors.isEmpty || cors.contains("*") {
            allowed = "*"
        } else if let origin, cors.contains(origin) {
            allowed = origin
        } else {
            return
        }
        headers.add(name: "Access-Control-Allow-Headers", value: "accept, content-type, authorization")
        headers.add(name: "Access-Control-Allow-Methods", value: "POST, GET, OPTIONS, PUT, DELETE")
        headers.add(name: "Access-Control-Allow-Origin", value: allowed)
    }

    /// Go's httputil.GetHostname: the host of `host:port`, or the whole value when it is not one
    /// (net.SplitHostPort fails: no port, too many colons, an unclosed bracket).
    static func hostname(_ value: String) -> String {
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return value }
            let rest = value[value.index(after: close)...]
            guard rest.hasPrefix(":"), !rest.dropFirst().contains(":") else { return value }
            return String(value[value.index(after: value.startIndex)..<close])
        }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !value.contains("[") && !value.contains("]") else { return value }
        return String(parts[0])
    }
}
