import GoSyntax

/// The flags of `etcd gateway start` (etcd 3.4's `etcdmain/gateway.go`): etcd's L4 gateway, a TCP
/// proxy in front of a cluster's client endpoints.
public struct GatewayConfig: Sendable, Equatable {
    public var listenAddr = "127.0.0.1:23790"
    /// host:port of each endpoint (a URL's scheme is dropped: the proxy only moves bytes).
    public var endpoints = ["127.0.0.1:2379"]
    /// How long an endpoint that refused a connection is left out.
    public var retryDelay: Duration = .seconds(60)

    public init() {}

    public struct Failure: Error, Sendable, Equatable {
        public var message: String
        /// True when the answer is the help text (exit 0).
        public var isHelp: Bool
    }

    public static let usage = """
        start the gateway

        Usage:
          etcd gateway start [flags]

        Flags:
              --discovery-srv string        DNS domain used to bootstrap initial cluster
              --discovery-srv-name string   service name to query when using DNS discovery
              --endpoints strings           comma separated etcd cluster endpoints (default [127.0.0.1:2379])
          -h, --help                        help for start
              --insecure-discovery          accept insecure SRV records
              --listen-addr string          listen address (default "127.0.0.1:23790")
              --retry-delay duration        duration of delay before retrying failed endpoints (default 1m0s)
              --trusted-ca-file string      path to the client server TLS CA file for verifying the discovered endpoints when discovery-srv is provided.

        """

    /// Parses the arguments after `gateway`; flags may come before or after `start`, as cobra allows.
    public static func parse(_ arguments: [String]) -> Result<GatewayConfig, Failure> {
        var config = GatewayConfig()
        var sawStart = false
        var endpointsSet = false
        var i = 0
        func fail(_ m: String) -> Result<GatewayConfig, Failure> { .failure(Failure(message: m, isHelp: false)) }
        while i < arguments.count {
            let arg = arguments[i]
            i += 1
            guard arg.hasPrefix("--") else {
                if arg == "start" && !sawStart {
                    sawStart = true
                    continue
                }
                if arg == "-h" { return .failure(Failure(message: usage, isHelp: true)) }
                return fail("Error: unknown command \"\(arg)\" for \"etcd gateway\"")
            }
            var name = String(arg.dropFirst(2))
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if name == "help" { return .failure(Failure(message: usage, isHelp: true)) }
            if name == "insecure-discovery" { continue }
            guard ["listen-addr", "endpoints", "retry-delay", "discovery-srv", "discovery-srv-name", "trusted-ca-file"]
                .contains(name)
            else { return fail("Error: unknown flag: --\(name)") }
            if value == nil {
                guard i < arguments.count else { return fail("Error: flag needs an argument: --\(name)") }
                value = arguments[i]
                i += 1
            }
            let v = value!
            switch name {
            case "listen-addr": config.listenAddr = v
            case "endpoints":
                // pflag's string slice: the first use replaces the default, later ones append.
                let list = v.split(separator: ",").map { stripScheme(String($0)) }
                config.endpoints = endpointsSet ? config.endpoints + list : list
                endpointsSet = true
            case "retry-delay":
                guard let ns = GoSyntax.parseDuration(v) else {
                    return fail("Error: invalid argument \"\(v)\" for \"--retry-delay\" flag: time: invalid duration \"\(v)\"")
                }
                config.retryDelay = .nanoseconds(ns)
            case "discovery-srv", "discovery-srv-name", "trusted-ca-file":
                if name == "discovery-srv", !v.isEmpty { return fail("etcd-swift gateway: --discovery-srv is not supported yet") }
            default: break
            }
        }
        guard sawStart else { return .failure(Failure(message: usage, isHelp: true)) }
        guard split(config.listenAddr) != nil else {
            return fail("failed to validate listen address: \(config.listenAddr)")
        }
        for ep in config.endpoints {
            guard let (host, port) = split(ep) else { return fail("error parsing endpoint \"\(ep)\"") }
            if let (lhost, lport) = split(config.listenAddr), lport == port, host == lhost {
                return fail("SRV or endpoint (\(host):\(port)->\(host):\(port)) should not resolve to the gateway listen addr (\(config.listenAddr))")
            }
        }
        if config.endpoints.isEmpty { return fail("no endpoints found") }
        return .success(config)
    }

    /// `http://host:port` -> `host:port`, as etcd's stripSchema.
    static func stripScheme(_ ep: String) -> String {
        let chars = Array(ep)
        guard let at = (0..<max(chars.count - 2, 0)).first(where: { chars[$0] == ":" && chars[$0 + 1] == "/" && chars[$0 + 2] == "/" })
        else { return ep }
        let rest = String(chars[(at + 3)...])
        return String(rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(rest))
    }

    /// Splits host:port (`[v6]:port` too); nil unless the port is a number.
    public static func split(_ address: String) -> (host: String, port: Int)? {
        guard let colon = address.lastIndex(of: ":") else { return nil }
        var host = String(address[..<colon])
        guard let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }
}
