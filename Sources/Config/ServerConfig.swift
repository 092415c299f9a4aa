import GoSyntax

/// TLS settings of one side (client or peer), from `--cert-file`... or `--peer-cert-file`...,
/// or a config file's `client-transport-security` / `peer-transport-security`.
public struct TLSConfig: Sendable, Equatable {
    public var certFile = ""
    public var keyFile = ""
    public var trustedCAFile = ""
    /// `--client-cert-auth` / `--peer-client-cert-auth`.
    public var clientCertAuth = false
    /// `--client-crl-file` / `--peer-crl-file`.
    public var crlFile = ""
    /// `--client-cert-allowed-hostname` / `--peer-cert-allowed-hostname`.
    public var allowedHostname = ""
    /// `--peer-cert-allowed-cn` (peer side only).
    public var allowedCN = ""
    /// `--experimental-peer-skip-client-san-verification` (peer side only).
    public var skipClientSANVerify = false
    /// `--auto-tls` / `--peer-auto-tls`: self-signed certificates generated under the data dir.
    public var autoTLS = false

    public init() {}

    /// No certificate, key or CA file: TLS is off for this side (unless `autoTLS`).
    public var isEmpty: Bool { certFile.isEmpty && keyFile.isEmpty }
}

/// `--logger`, `--log-level`, `--log-outputs` and the deprecated logging flags.
public struct LoggingConfig: Sendable, Equatable {
    /// "capnslog" (etcd 3.4's default) or "zap".
    public var logger = "capnslog"
    /// debug, info, warn, error, dpanic, panic or fatal.
    public var level = "info"
    /// Sorted, de-duplicated output targets: "default", "stderr", "stdout", "systemd/journal" or file paths.
    public var outputs = ["default"]
    /// Deprecated `--log-output`.
    public var deprecatedOutput = ["default"]
    /// Deprecated `--debug`.
    public var debug = false
    /// Deprecated `--log-package-levels`.
    public var packageLevels = ""

    public init() {}
}

/// The v2 proxy flags (`--proxy`, `--proxy-*`, `--discovery-fallback`).
public struct ProxyConfig: Sendable, Equatable {
    /// "off", "readonly" or "on".
    public var mode = "off"
    /// `--discovery-fallback`: "proxy" or "exit" ("" when a config file leaves it out, as etcd).
    public var discoveryFallback = "proxy"
    public var failureWaitMs = 5000
    public var refreshIntervalMs = 30000
    public var dialTimeoutMs = 1000
    public var writeTimeoutMs = 5000
    public var readTimeoutMs = 0

    public init() {}
}

/// The `--experimental-*` flags.
public struct ExperimentalConfig: Sendable, Equatable {
    public var initialCorruptCheck = false
    public var corruptCheckTime = Duration.zero
    public var enableV2V3 = ""
    /// `--experimental-backend-bbolt-freelist-type` ("" means array).
    public var backendBboltFreelistType = ""
    public var enableLeaseCheckpoint = false
    public var enableLeaseCheckpointPersist = false
    public var compactionBatchLimit = 0
    public var watchProgressNotifyInterval = Duration.zero
    public var warningApplyDuration = Duration.milliseconds(100)

    public init() {}
}

/// Where a configuration came from.
public enum ConfigSource: Sendable, Equatable {
    /// Command-line flags plus `ETCD_*` environment variables.
    case commandLine
    /// A `--config-file` (or `ETCD_CONFIG_FILE`) YAML file; flags and environment were ignored.
    case configFile(path: String)
}

/// A note produced while parsing, for the caller to log (etcd logs the same lines).
public struct ConfigMessage: Sendable, Equatable {
    public enum Level: Sendable, Equatable { case info, warning }
    public var level: Level
    /// The message (etcd's zap message where it has one).
    public var text: String
    /// Structured fields etcd's zap logger attaches (e.g. "path", "data-dir").
    public var fields: [String: String]
    public init(level: Level, text: String, fields: [String: String] = [:]) {
        self.level = level
        self.text = text
        self.fields = fields
    }
}

/// Every setting of an etcd 3.4 member, typed, with etcd's defaults (`embed.NewConfig` plus
/// etcdmain's flag defaults). Sizes are `Int`, millisecond flags are `…Ms: Int`, Go
/// `time.Duration` flags are `Duration`.
public struct ServerConfig: Sendable, Equatable {
    // MARK: member
    public var name = "default"
    /// `--data-dir`; after parsing never empty (etcd's "${name}.etcd" default is applied).
    public var dataDir = ""
    /// `--wal-dir` ("" = `<data-dir>/member/wal`).
    public var walDir = ""
    public var snapshotCount = 100_000
    /// Not a flag in 3.4 (etcdserver.DefaultSnapshotCatchUpEntries).
    public var snapshotCatchUpEntries = 5000
    public var maxSnapshots = 5
    public var maxWALs = 5
    public var heartbeatIntervalMs = 100
    public var electionTimeoutMs = 1000
    public var initialElectionTickAdvance = true
    /// `--quota-backend-bytes`; 0 means etcd's default quota (2 GiB).
    public var quotaBackendBytes = 0
    public var backendBatchInterval = Duration.zero
    public var backendBatchLimit = 0
    public var maxTxnOps = 128
    public var maxRequestBytes = 1_572_864
    /// `--max-concurrent-streams` (uint32; default `UInt32.max`).
    public var maxConcurrentStreams = Int(UInt32.max)
    public var grpcKeepAliveMinTime = Duration.seconds(5)
    public var grpcKeepAliveInterval = Duration.seconds(7200)
    public var grpcKeepAliveTimeout = Duration.seconds(20)

    // MARK: URLs
    public var listenPeerURLs: [ServerURL] = []
    public var listenClientURLs: [ServerURL] = []
    /// `--initial-advertise-peer-urls`.
    public var advertisePeerURLs: [ServerURL] = []
    /// `--advertise-client-urls`.
    public var advertiseClientURLs: [ServerURL] = []
    public var listenMetricsURLs: [ServerURL] = []

    // MARK: clustering
    public var initialCluster = "default=http://localhost:2380"
    public var initialClusterToken = "etcd-cluster"
    /// "new" or "existing".
    public var initialClusterState = "new"
    public var discovery = ""
    public var discoveryProxy = ""
    public var discoverySRV = ""
    public var discoverySRVName = ""
    public var strictReconfigCheck = true
    public var enableV2 = false
    public var preVote = false
    /// "periodic", "revision" (or "" from a config file that leaves it out).
    public var autoCompactionMode = "periodic"
    /// Raw `--auto-compaction-retention`; see ``autoCompactionRetentionValue()``.
    public var autoCompactionRetention = "0"
    public var forceNewCluster = false

    // MARK: security
    public var clientTLS = TLSConfig()
    public var peerTLS = TLSConfig()
    public var cipherSuites: [String] = []
    /// Allowed CORS origins; ["*"] allows all.
    public var cors: Set<String> = ["*"]
    /// Accepted Host headers for insecure HTTP; ["*"] accepts all.
    public var hostWhitelist: Set<String> = ["*"]

    // MARK: auth
    /// "simple" or "jwt,..." options.
    public var authToken = "simple"
    public var bcryptCost = 10
    public var authTokenTTL = 300

    // MARK: monitoring, logging, misc
    public var enablePprof = false
    /// "basic" or "extensive".
    public var metrics = "basic"
    public var enableGRPCGateway = true
    public var unsafeNoFsync = false
    public var logging = LoggingConfig()
    public var proxy = ProxyConfig()
    public var experimental = ExperimentalConfig()

    // MARK: provenance
    /// Command line (with environment) or config file.
    public var source = ConfigSource.commandLine
    /// The flags given, by flag name (no dashes), with their raw text: command-line flags, flags set
    /// from `ETCD_*` variables, or the config file's keys (TLS sections expanded to flag names).
    public var givenFlags: [String: String] = [:]
    /// Flags given that this server does not implement yet, sorted (see ``ConfigParser/defaultSupportedFlags``).
    /// A flag given at exactly its default text is not listed.
    public var unsupported: [String] = []
    /// Lines etcd would log while reading the configuration (environment use, unrecognized `ETCD_*`
    /// variables, ignored and deprecated flags, the data-dir default), in order.
    public var messages: [ConfigMessage] = []

    /// Defaults of etcd 3.4 before any flag (data dir still empty, as in etcd before its start-up default).
    public init() {
        listenPeerURLs = ServerConfig.defaultURL("http://localhost:2380")
        listenClientURLs = ServerConfig.defaultURL("http://localhost:2379")
        advertisePeerURLs = listenPeerURLs
        advertiseClientURLs = listenClientURLs
    }

    static func defaultURL(_ s: String) -> [ServerURL] {
        (try? ServerURL.parseList([s])) ?? []
    }

    // MARK: derived values

    /// `--initial-cluster-state new`.
    public var isNewCluster: Bool { initialClusterState == "new" }
    /// Election timeout in heartbeat ticks (etcd's `ElectionTicks`).
    public var electionTicks: Int { heartbeatIntervalMs > 0 ? electionTimeoutMs / heartbeatIntervalMs : 0 }
    /// `<data-dir>/member`.
    public var memberDir: String { dataDir + "/member" }
    /// The WAL directory: `--wal-dir` or `<data-dir>/member/wal`.
    public var walDirectory: String { walDir.isEmpty ? memberDir + "/wal" : walDir }
    /// `<data-dir>/member/snap`.
    public var snapDir: String { memberDir + "/snap" }
    /// The backend quota in effect: `--quota-backend-bytes`, or etcd's 2 GiB default when 0 or less.
    public var effectiveQuotaBackendBytes: Int { quotaBackendBytes > 0 ? quotaBackendBytes : 2 * 1024 * 1024 * 1024 }

    /// Auto compaction retention as etcd's start-up computes it: a plain integer is hours in
    /// periodic mode and a revision count in revision mode; anything else must be a Go duration.
    public func autoCompactionRetentionValue() throws(ConfigError) -> AutoCompactionRetention {
        let raw = autoCompactionRetention.isEmpty ? "0" : autoCompactionRetention
        if let n = Int(raw), n >= 0, GoSyntax.isDecimalInteger(raw) {
            switch autoCompactionMode {
            case "revision": return .revisions(n)
            case "periodic": return .period(.seconds(n * 3600))
            default: return .period(.zero)
            }
        }
        guard let ns = GoSyntax.parseDuration(raw) else {
            throw .fatal("error parsing CompactionRetention: time: invalid duration \(GoSyntax.quote(raw))")
        }
        return .period(.nanoseconds(ns))
    }
}

/// A parsed `--auto-compaction-retention`.
public enum AutoCompactionRetention: Sendable, Equatable {
    /// Keep this much history (periodic mode); zero disables auto compaction.
    case period(Duration)
    /// Keep this many revisions (revision mode); zero disables auto compaction.
    case revisions(Int)
}

extension GoSyntax {
    /// Whether Go's `strconv.Atoi` would accept `s` (decimal, optional sign).
    static func isDecimalInteger(_ s: String) -> Bool {
        var body = Substring(s)
        if let f = body.first, f == "+" || f == "-" { body = body.dropFirst() }
        return !body.isEmpty && body.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
