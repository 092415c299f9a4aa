import GoSyntax

// The flags of etcd 3.4 (etcdmain/config.go `newConfig`), each with its Go value type, default and
// help section. One table drives parsing, `ETCD_*` lookup, the config-file keys and the help text.

/// A comma-separated string set flag (`flags.UniqueStringsValue`): each Set replaces the set.
struct UniqueStrings: Equatable {
    var values: Set<String>
    init(_ s: String) {
        values = s.isEmpty ? [] : Set(s.split(separator: ",", omittingEmptySubsequences: false).map(String.init))
    }
    var sorted: [String] { values.sorted() }
}

/// A URL-list flag (`flags.UniqueURLs`) with etcd's quirks kept: setting the same text again is a
/// no-op and an allowed exception ("" or "*") is added to the text set without touching the URLs.
struct UniqueURLs: Equatable {
    var values: Set<String> = []
    var urls: [ServerURL] = []
    var allowed: Set<String>

    init(_ initial: String, exceptions: Set<String>) {
        allowed = exceptions
        if !initial.isEmpty { try? set(initial) }
    }

    mutating func set(_ s: String) throws(ConfigError) {
        if values.contains(s) { return }
        if allowed.contains(s) {
            values.insert(s)
            return
        }
        let parsed = try ServerURL.parseList(s.split(separator: ",", omittingEmptySubsequences: false).map(String.init))
        values = Set(parsed.map(\.description))
        urls = parsed
    }
}

/// Everything a flag can write while the command line and environment are read.
struct ParseState {
    var cfg = ServerConfig()
    var configFile = ""
    var printVersion = false
    var listenPeerURLs = UniqueURLs("http://localhost:2380", exceptions: [""])
    var listenClientURLs = UniqueURLs("http://localhost:2379", exceptions: [""])
    var listenMetricsURLs = UniqueURLs("", exceptions: [""])
    var advertisePeerURLs = UniqueURLs("http://localhost:2380", exceptions: [""])
    var advertiseClientURLs = UniqueURLs("http://localhost:2379", exceptions: [""])
    var cors = UniqueURLs("*", exceptions: ["*"])
    var hostWhitelist = UniqueStrings("*")
    var logOutput = UniqueStrings("default")
    var logOutputs = UniqueStrings("default")
    /// Flags set so far (command line, then environment), Go's `FlagSet.Visit` set.
    var setFlags: Set<String> = []
    var messages: [ConfigMessage] = []
}

/// Go value type of a flag, with where its value goes.
enum FlagKind {
    case string(WritableKeyPath<ParseState, String>)
    case bool(WritableKeyPath<ParseState, Bool>)
    /// Go `uint`/`uint64`/`int`/`int64` (`bits`, `signed`) parsed with base prefixes.
    case integer(WritableKeyPath<ParseState, Int>, bits: Int, signed: Bool)
    /// etcd's own uint32 flag type, whose errors are raw strconv text.
    case uint32(WritableKeyPath<ParseState, Int>)
    case duration(WritableKeyPath<ParseState, Duration>)
    case urls(WritableKeyPath<ParseState, UniqueURLs>)
    case uniqueStrings(WritableKeyPath<ParseState, UniqueStrings>)
    /// Comma-split list (`flags.StringsValue`).
    case strings(WritableKeyPath<ParseState, [String]>)
    /// One of a fixed set of words (`flags.SelectiveStringValue`).
    case selective(WritableKeyPath<ParseState, String>, valid: [String])
    /// A flag of older etcd releases: accepted as a boolean and ignored with a warning.
    case ignored
}

/// Help-text group, in etcd's order.
enum FlagSection: String, CaseIterable {
    case member = "Member"
    case clustering = "Clustering"
    case security = "Security"
    case auth = "Auth"
    case monitoring = "Profiling and Monitoring"
    case logging = "Logging"
    case proxy = "v2 Proxy (to be deprecated in v4)"
    case experimental = "Experimental feature"
    case unsafe = "Unsafe feature"
    case deprecated = "TO BE DEPRECATED"
    case hidden = ""
}

struct FlagSpec {
    let name: String
    let kind: FlagKind
    /// Go's `DefValue`: the default as text.
    let defaultText: String
    let section: FlagSection
    let usage: String
    /// Default as etcd's help shows it, where it differs from `defaultText`.
    var helpDefault: String?

    var isBool: Bool {
        switch kind {
        case .bool, .ignored: return true
        default: return false
        }
    }

    /// The `ETCD_*` variable of this flag (pkg/flags `FlagToEnv`).
    var environmentKey: String { "ETCD_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 }) }

    /// Applies one value as Go's `Value.Set`; the error is the `%v` part of Go's message.
    func set(_ value: String, in state: inout ParseState) throws(ConfigError) {
        switch kind {
        case .string(let kp):
            state[keyPath: kp] = value
        case .bool(let kp):
            guard let b = GoSyntax.parseBool(value) else { throw .verify("parse error") }
            state[keyPath: kp] = b
        case .integer(let kp, let bits, let signed):
            do throws(NumberSyntaxError) {
                if signed {
                    state[keyPath: kp] = Int(try GoSyntax.parseInt(value, bits: bits))
                } else {
                    let v = try GoSyntax.parseUint(value, bits: bits)
                    guard v <= UInt64(Int.max) else { throw NumberSyntaxError.range }
                    state[keyPath: kp] = Int(v)
                }
            } catch {
                throw .verify(error == .syntax ? "parse error" : "value out of range")
            }
        case .uint32(let kp):
            do throws(NumberSyntaxError) {
                state[keyPath: kp] = Int(try GoSyntax.parseUint(value, bits: 32))
            } catch {
                let why = error == .syntax ? "invalid syntax" : "value out of range"
                throw .verify("strconv.ParseUint: parsing \(GoSyntax.quote(value)): \(why)")
            }
        case .duration(let kp):
            guard let ns = GoSyntax.parseDuration(value) else { throw .verify("parse error") }
            state[keyPath: kp] = .nanoseconds(ns)
        case .urls(let kp):
            try state[keyPath: kp].set(value)
        case .uniqueStrings(let kp):
            state[keyPath: kp] = UniqueStrings(value.isEmpty ? "" : value)
            if value.isEmpty { state[keyPath: kp].values = [""] }
        case .strings(let kp):
            state[keyPath: kp] = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        case .selective(let kp, let valid):
            guard valid.contains(value) else { throw .verify("invalid value") }
            state[keyPath: kp] = value
        case .ignored:
            state.messages.append(ConfigMessage(level: .warning,
                                                text: "flag \"-\(name)\" is no longer supported - ignoring."))
        }
    }
}

extension FlagSpec {
    /// Every flag etcd 3.4 defines, in etcd's definition order.
    static var all: [FlagSpec] {
        typealias S = FlagSpec
        let member: [FlagSpec] = [
            S(name: "name", kind: .string(\.cfg.name), defaultText: "default", section: .member,
              usage: "Human-readable name for this member."),
            S(name: "data-dir", kind: .string(\.cfg.dataDir), defaultText: "", section: .member,
              usage: "Path to the data directory.", helpDefault: "${name}.etcd"),
            S(name: "wal-dir", kind: .string(\.cfg.walDir), defaultText: "", section: .member,
              usage: "Path to a dedicated WAL directory."),
            S(name: "snapshot-count", kind: .integer(\.cfg.snapshotCount, bits: 64, signed: false),
              defaultText: "100000", section: .member,
              usage: "Committed transactions that trigger a snapshot to disk."),
            S(name: "heartbeat-interval", kind: .integer(\.cfg.heartbeatIntervalMs, bits: 64, signed: false),
              defaultText: "100", section: .member, usage: "Heartbeat interval in milliseconds."),
            S(name: "election-timeout", kind: .integer(\.cfg.electionTimeoutMs, bits: 64, signed: false),
              defaultText: "1000", section: .member, usage: "Election timeout in milliseconds."),
            S(name: "initial-election-tick-advance", kind: .bool(\.cfg.initialElectionTickAdvance),
              defaultText: "true", section: .member,
              usage: "Fast-forward the initial election ticks at boot for a faster first election."),
            S(name: "listen-peer-urls", kind: .urls(\.listenPeerURLs), defaultText: "http://localhost:2380",
              section: .member, usage: "URLs to listen on for peer traffic."),
            S(name: "listen-client-urls", kind: .urls(\.listenClientURLs), defaultText: "http://localhost:2379",
              section: .member, usage: "URLs to listen on for client traffic."),
            S(name: "max-snapshots", kind: .integer(\.cfg.maxSnapshots, bits: 64, signed: false),
              defaultText: "5", section: .member, usage: "Snapshot files to keep (0 keeps all)."),
            S(name: "max-wals", kind: .integer(\.cfg.maxWALs, bits: 64, signed: false),
              defaultText: "5", section: .member, usage: "WAL files to keep (0 keeps all)."),
            S(name: "quota-backend-bytes", kind: .integer(\.cfg.quotaBackendBytes, bits: 64, signed: true),
              defaultText: "0", section: .member,
              usage: "Raise an alarm when the backend exceeds this size (0 uses the default quota)."),
            S(name: "backend-batch-interval", kind: .duration(\.cfg.backendBatchInterval), defaultText: "0s",
              section: .member, usage: "Longest time before the backend transaction is committed.",
              helpDefault: ""),
            S(name: "backend-batch-limit", kind: .integer(\.cfg.backendBatchLimit, bits: 64, signed: true),
              defaultText: "0", section: .member,
              usage: "Most operations before the backend transaction is committed."),
            S(name: "max-txn-ops", kind: .integer(\.cfg.maxTxnOps, bits: 64, signed: false),
              defaultText: "128", section: .member, usage: "Most operations allowed in one transaction."),
            S(name: "max-request-bytes", kind: .integer(\.cfg.maxRequestBytes, bits: 64, signed: false),
              defaultText: "1572864", section: .member, usage: "Largest client request, in bytes, the server accepts."),
            S(name: "grpc-keepalive-min-time", kind: .duration(\.cfg.grpcKeepAliveMinTime), defaultText: "5s",
              section: .member, usage: "Shortest interval a client should wait between pings."),
            S(name: "grpc-keepalive-interval", kind: .duration(\.cfg.grpcKeepAliveInterval), defaultText: "2h0m0s",
              section: .member, usage: "How often the server pings an idle client (0 disables).", helpDefault: "2h"),
            S(name: "grpc-keepalive-timeout", kind: .duration(\.cfg.grpcKeepAliveTimeout), defaultText: "20s",
              section: .member, usage: "Extra wait before closing an unresponsive connection (0 disables)."),
            S(name: "max-concurrent-streams", kind: .uint32(\.cfg.maxConcurrentStreams), defaultText: "4294967295",
              section: .member, usage: "Most concurrent streams each client may open.", helpDefault: "math.MaxUint32"),
        ]
        let clustering: [FlagSpec] = [
            S(name: "initial-advertise-peer-urls", kind: .urls(\.advertisePeerURLs),
              defaultText: "http://localhost:2380", section: .clustering,
              usage: "This member's peer URLs, advertised to the rest of the cluster."),
            S(name: "initial-cluster", kind: .string(\.cfg.initialCluster),
              defaultText: "default=http://localhost:2380", section: .clustering,
              usage: "Initial cluster configuration for bootstrapping (name=peerURL,...)."),
            S(name: "initial-cluster-state", kind: .selective(\.cfg.initialClusterState, valid: ["new", "existing"]),
              defaultText: "new", section: .clustering, usage: "Initial cluster state ('new' or 'existing')."),
            S(name: "initial-cluster-token", kind: .string(\.cfg.initialClusterToken), defaultText: "etcd-cluster",
              section: .clustering, usage: "Initial cluster token used during bootstrap."),
            S(name: "advertise-client-urls", kind: .urls(\.advertiseClientURLs),
              defaultText: "http://localhost:2379", section: .clustering,
              usage: "This member's client URLs, advertised to clients."),
            S(name: "discovery", kind: .string(\.cfg.discovery), defaultText: "", section: .clustering,
              usage: "Discovery URL used to bootstrap the cluster."),
            S(name: "discovery-fallback", kind: .selective(\.cfg.proxy.discoveryFallback, valid: ["proxy", "exit"]),
              defaultText: "proxy", section: .clustering,
              usage: "What to do when discovery fails: 'exit' or 'proxy' (v2 proxy only)."),
            S(name: "discovery-proxy", kind: .string(\.cfg.discoveryProxy), defaultText: "", section: .clustering,
              usage: "HTTP proxy for traffic to the discovery service."),
            S(name: "discovery-srv", kind: .string(\.cfg.discoverySRV), defaultText: "", section: .clustering,
              usage: "DNS domain whose SRV records bootstrap the cluster."),
            S(name: "discovery-srv-name", kind: .string(\.cfg.discoverySRVName), defaultText: "", section: .clustering,
              usage: "Service name suffix for DNS discovery."),
            S(name: "strict-reconfig-check", kind: .bool(\.cfg.strictReconfigCheck), defaultText: "true",
              section: .clustering, usage: "Reject reconfiguration requests that would cause quorum loss."),
            S(name: "pre-vote", kind: .bool(\.cfg.preVote), defaultText: "false", section: .clustering,
              usage: "Run a Raft pre-vote phase before each election."),
            S(name: "auto-compaction-retention", kind: .string(\.cfg.autoCompactionRetention), defaultText: "0",
              section: .clustering, usage: "History kept by auto compaction (0 disables it)."),
            S(name: "auto-compaction-mode", kind: .string(\.cfg.autoCompactionMode), defaultText: "periodic",
              section: .clustering,
              usage: "How to read auto-compaction-retention: 'periodic' (a duration, hours when unitless) "
                + "or 'revision'."),
            S(name: "enable-v2", kind: .bool(\.cfg.enableV2), defaultText: "false", section: .clustering,
              usage: "Accept etcd v2 client requests."),
        ]
        return member + clustering + securityFlags + otherFlags
    }

    private static var securityFlags: [FlagSpec] {
        typealias S = FlagSpec
        func str(_ n: String, _ kp: WritableKeyPath<ParseState, String>, _ u: String) -> FlagSpec {
            S(name: n, kind: .string(kp), defaultText: "", section: .security, usage: u)
        }
        func bool(_ n: String, _ kp: WritableKeyPath<ParseState, Bool>, _ u: String,
                  _ section: FlagSection = .security) -> FlagSpec {
            S(name: n, kind: .bool(kp), defaultText: "false", section: section, usage: u)
        }
        return [
            str("cert-file", \.cfg.clientTLS.certFile, "Client server TLS certificate file."),
            str("key-file", \.cfg.clientTLS.keyFile, "Client server TLS key file."),
            bool("client-cert-auth", \.cfg.clientTLS.clientCertAuth, "Require client certificates."),
            str("client-crl-file", \.cfg.clientTLS.crlFile, "Client certificate revocation list file."),
            str("client-cert-allowed-hostname", \.cfg.clientTLS.allowedHostname,
                "TLS host name a client certificate must carry."),
            str("trusted-ca-file", \.cfg.clientTLS.trustedCAFile, "Client server TLS trusted CA file."),
            bool("auto-tls", \.cfg.clientTLS.autoTLS, "Client TLS with generated certificates."),
            str("peer-cert-file", \.cfg.peerTLS.certFile, "Peer server TLS certificate file."),
            str("peer-key-file", \.cfg.peerTLS.keyFile, "Peer server TLS key file."),
            bool("peer-client-cert-auth", \.cfg.peerTLS.clientCertAuth, "Require peer client certificates."),
            str("peer-trusted-ca-file", \.cfg.peerTLS.trustedCAFile, "Peer server TLS trusted CA file."),
            bool("peer-auto-tls", \.cfg.peerTLS.autoTLS, "Peer TLS with generated certificates."),
            str("peer-crl-file", \.cfg.peerTLS.crlFile, "Peer certificate revocation list file."),
            str("peer-cert-allowed-cn", \.cfg.peerTLS.allowedCN, "Common name a peer certificate must carry."),
            str("peer-cert-allowed-hostname", \.cfg.peerTLS.allowedHostname,
                "TLS host name a peer certificate must carry."),
            S(name: "cipher-suites", kind: .strings(\.cfg.cipherSuites), defaultText: "", section: .security,
              usage: "Comma-separated TLS cipher suites for clients and peers (empty: Go's defaults)."),
            bool("experimental-peer-skip-client-san-verification", \.cfg.peerTLS.skipClientSANVerify,
                 "Skip the SAN check of peer client certificates.", .experimental),
            S(name: "cors", kind: .urls(\.cors), defaultText: "*", section: .security,
              usage: "Comma-separated CORS origins (empty or * allows all)."),
            S(name: "host-whitelist", kind: .uniqueStrings(\.hostWhitelist), defaultText: "*", section: .security,
              usage: "Comma-separated Host names accepted from insecure HTTP clients (empty allows all)."),
        ]
    }

    private static var otherFlags: [FlagSpec] {
        typealias S = FlagSpec
        func bool(_ n: String, _ kp: WritableKeyPath<ParseState, Bool>, _ d: String, _ s: FlagSection,
                  _ u: String) -> FlagSpec {
            S(name: n, kind: .bool(kp), defaultText: d, section: s, usage: u)
        }
        func uint(_ n: String, _ kp: WritableKeyPath<ParseState, Int>, _ d: String, _ s: FlagSection,
                  _ u: String, signed: Bool = false) -> FlagSpec {
            S(name: n, kind: .integer(kp, bits: 64, signed: signed), defaultText: d, section: s, usage: u)
        }
        var list: [FlagSpec] = [
            S(name: "config-file", kind: .string(\.configFile), defaultText: "", section: .hidden,
              usage: "Server configuration file; when given, other flags and environment variables are ignored."),
            S(name: "logger", kind: .string(\.cfg.logging.logger), defaultText: "capnslog", section: .logging,
              usage: "'zap' for structured logging or 'capnslog' (deprecated in v3.5)."),
            S(name: "log-output", kind: .uniqueStrings(\.logOutput), defaultText: "default", section: .deprecated,
              usage: "Deprecated; use --log-outputs."),
            S(name: "log-outputs", kind: .uniqueStrings(\.logOutputs), defaultText: "default", section: .logging,
              usage: "'stdout', 'stderr', 'default' or a comma-separated list of targets."),
            bool("debug", \.cfg.logging.debug, "false", .deprecated, "Deprecated; use --log-level=debug."),
            S(name: "log-level", kind: .string(\.cfg.logging.level), defaultText: "info", section: .logging,
              usage: "debug, info, warn, error, panic or fatal."),
            S(name: "log-package-levels", kind: .string(\.cfg.logging.packageLevels), defaultText: "",
              section: .deprecated, usage: "Deprecated per-package log levels (e.g. 'etcdmain=CRITICAL')."),
            bool("version", \.printVersion, "false", .hidden, "Print the version and exit."),
            bool("enable-pprof", \.cfg.enablePprof, "false", .monitoring,
                 "Serve runtime profiling data at the client URL + /debug/pprof/."),
            S(name: "metrics", kind: .string(\.cfg.metrics), defaultText: "basic", section: .monitoring,
              usage: "Detail of exported metrics; 'extensive' adds histograms."),
            S(name: "listen-metrics-urls", kind: .urls(\.listenMetricsURLs), defaultText: "", section: .monitoring,
              usage: "URLs to serve the metrics and health endpoints on."),
            S(name: "auth-token", kind: .string(\.cfg.authToken), defaultText: "simple", section: .auth,
              usage: "Auth token type and options ('simple' or 'jwt,...')."),
            uint("bcrypt-cost", \.cfg.bcryptCost, "10", .auth, "bcrypt cost for password hashing."),
            uint("auth-token-ttl", \.cfg.authTokenTTL, "300", .auth, "Lifetime of a simple auth token, in seconds."),
            bool("enable-grpc-gateway", \.cfg.enableGRPCGateway, "true", .hidden, "Serve the JSON gRPC gateway."),
            S(name: "proxy", kind: .selective(\.cfg.proxy.mode, valid: ["off", "readonly", "on"]),
              defaultText: "off", section: .proxy, usage: "v2 proxy mode: 'off', 'readonly' or 'on'."),
            uint("proxy-failure-wait", \.cfg.proxy.failureWaitMs, "5000", .proxy,
                 "Milliseconds a failed endpoint stays failed."),
            uint("proxy-refresh-interval", \.cfg.proxy.refreshIntervalMs, "30000", .proxy,
                 "Milliseconds between endpoint refreshes."),
            uint("proxy-dial-timeout", \.cfg.proxy.dialTimeoutMs, "1000", .proxy, "Dial timeout in milliseconds."),
            uint("proxy-write-timeout", \.cfg.proxy.writeTimeoutMs, "5000", .proxy, "Write timeout in milliseconds."),
            uint("proxy-read-timeout", \.cfg.proxy.readTimeoutMs, "0", .proxy, "Read timeout in milliseconds."),
            bool("experimental-initial-corrupt-check", \.cfg.experimental.initialCorruptCheck, "false",
                 .experimental, "Check for data corruption before serving traffic."),
            S(name: "experimental-corrupt-check-time", kind: .duration(\.cfg.experimental.corruptCheckTime),
              defaultText: "0s", section: .experimental, usage: "Time between cluster corruption checks."),
            S(name: "experimental-enable-v2v3", kind: .string(\.cfg.experimental.enableV2V3), defaultText: "",
              section: .experimental, usage: "v3 prefix for serving emulated v2 state."),
            S(name: "experimental-backend-bbolt-freelist-type",
              kind: .string(\.cfg.experimental.backendBboltFreelistType), defaultText: "", section: .experimental,
              usage: "Backend freelist type ('array' or 'map').", helpDefault: "array"),
            bool("experimental-enable-lease-checkpoint", \.cfg.experimental.enableLeaseCheckpoint, "false",
                 .experimental, "Leader checkpoints lease TTLs so a leader change does not reset them."),
            bool("experimental-enable-lease-checkpoint-persist", \.cfg.experimental.enableLeaseCheckpointPersist,
                 "false", .experimental, "Persist lease checkpoints (needs experimental-enable-lease-checkpoint)."),
            uint("experimental-compaction-batch-limit", \.cfg.experimental.compactionBatchLimit, "0", .experimental,
                 "Most revisions deleted in one compaction batch.", signed: true),
            S(name: "experimental-watch-progress-notify-interval",
              kind: .duration(\.cfg.experimental.watchProgressNotifyInterval), defaultText: "0s",
              section: .experimental, usage: "Interval of periodic watch progress notifications."),
            S(name: "experimental-warning-apply-duration", kind: .duration(\.cfg.experimental.warningApplyDuration),
              defaultText: "100ms", section: .experimental, usage: "Warn when applying a request takes longer."),
            bool("unsafe-no-fsync", \.cfg.unsafeNoFsync, "false", .unsafe, "Disable fsync (data loss on crash)."),
            bool("force-new-cluster", \.cfg.forceNewCluster, "false", .unsafe,
                 "Force a new one-member cluster from the existing data."),
        ]
        for name in ignoredFlags {
            list.append(S(name: name, kind: .ignored, defaultText: "", section: .hidden, usage: ""))
        }
        return list
    }

    /// Flags of etcd 2 that etcd 3.4 still accepts and ignores.
    static let ignoredFlags = [
        "cluster-active-size", "cluster-remove-delay", "cluster-sync-interval", "config", "force",
        "max-result-buffer", "max-retry-attempts", "peer-heartbeat-interval", "peer-election-timeout",
        "retry-interval", "snapshot", "v", "vv", "test.coverprofile", "test.outputdir",
    ]
}
