// `--config-file`: etcd 3.4 converts the YAML to JSON (sigs.k8s.io/yaml) and decodes it into its
// config struct with Go's encoding/json: keys match the json tags case-insensitively, unknown keys
// are ignored, null leaves a default alone, and a value of the wrong JSON type is an error naming the
// field. Durations are integers of nanoseconds there (Go's time.Duration), not "5s".

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Yams

/// One YAML scalar or collection as the JSON value sigs.k8s.io/yaml would produce.
private enum JSONValue {
    case null
    case bool(Bool)
    case number(String, Int?)  // JSON text, and the value when it is an integer that fits
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    init(_ node: Node) {
        switch node {
        case .mapping(let m):
            self = .object(m.map { (k, v) in (k.scalar?.string ?? "", JSONValue(v)) })
        case .sequence(let s):
            self = .array(s.map { JSONValue($0) })
        case .scalar(let s):
            switch Tag.Name(rawValue: node.tag.description) {
            case .null: self = .null
            case .bool: self = node.bool.map { .bool($0) } ?? .string(s.string)
            case .int:
                if let i = node.int { self = .number(String(i), i) } else { self = .number(s.string, nil) }
            case .float:
                if let d = node.float, d.isFinite {
                    if d == d.rounded(), abs(d) < 1e18 { self = .number(String(Int(d)), Int(d)) } else {
                        self = .number(String(d), nil)
                    }
                } else {
                    self = .string(s.string)
                }
            default: self = .string(s.string)
            }
        }
    }
}

/// Field types of etcd's config struct, named as Go prints them in decode errors.
private enum FieldType {
    case string, bool, stringList, security
    case integer(goName: String, min: Int, max: Int)
    case duration

    var goName: String {
        switch self {
        case .string: return "string"
        case .bool: return "bool"
        case .stringList: return "[]string"
        case .security: return "embed.securityConfig"
        case .integer(let n, _, _): return n
        case .duration: return "time.Duration"
        }
    }
}

enum ConfigFile {
    private static let uintMax = Int.max  // Go uint is 64-bit; larger values do not fit Int here
    private static let uint: FieldType = .integer(goName: "uint", min: 0, max: uintMax)

    /// Keys of embed's `configYAML`, mapped to the flag they stand for.
    private static let mainFields: [(key: String, type: FieldType)] = [
        ("name", .string), ("data-dir", .string), ("wal-dir", .string),
        ("snapshot-count", .integer(goName: "uint64", min: 0, max: Int.max)),
        ("max-snapshots", uint), ("max-wals", uint), ("heartbeat-interval", uint), ("election-timeout", uint),
        ("initial-election-tick-advance", .bool), ("backend-batch-interval", .duration),
        ("backend-batch-limit", .integer(goName: "int", min: Int.min, max: Int.max)),
        ("quota-backend-bytes", .integer(goName: "int64", min: Int.min, max: Int.max)),
        ("max-txn-ops", uint), ("max-request-bytes", uint),
        ("max-concurrent-streams", .integer(goName: "uint32", min: 0, max: Int(UInt32.max))),
        ("cipher-suites", .stringList), ("initial-cluster-state", .string), ("discovery-srv", .string),
        ("discovery-srv-name", .string), ("discovery-proxy", .string), ("discovery", .string),
        ("initial-cluster", .string), ("initial-cluster-token", .string), ("strict-reconfig-check", .bool),
        ("enable-v2", .bool), ("auto-compaction-mode", .string), ("auto-compaction-retention", .string),
        ("grpc-keepalive-min-time", .duration), ("grpc-keepalive-interval", .duration),
        ("grpc-keepalive-timeout", .duration), ("pre-vote", .bool), ("auth-token", .string),
        ("bcrypt-cost", uint), ("auth-token-ttl", uint),
        ("experimental-initial-corrupt-check", .bool), ("experimental-corrupt-check-time", .duration),
        ("experimental-enable-v2v3", .string), ("experimental-backend-bbolt-freelist-type", .string),
        ("experimental-enable-lease-checkpoint", .bool), ("experimental-enable-lease-checkpoint-persist", .bool),
        ("experimental-compaction-batch-limit", .integer(goName: "int", min: Int.min, max: Int.max)),
        ("experimental-watch-progress-notify-interval", .duration),
        ("experimental-warning-apply-duration", .duration), ("force-new-cluster", .bool), ("enable-pprof", .bool),
        ("metrics", .string), ("listen-metrics-urls", .string), ("logger", .string), ("log-level", .string),
        ("log-outputs", .stringList), ("enable-grpc-gateway", .bool), ("log-output", .stringList),
        ("debug", .bool), ("log-package-levels", .string), ("unsafe-no-fsync", .bool),
        ("listen-peer-urls", .string), ("listen-client-urls", .string), ("initial-advertise-peer-urls", .string),
        ("advertise-client-urls", .string), ("cors", .string), ("host-whitelist", .string),
        ("client-transport-security", .security), ("peer-transport-security", .security),
    ]

    /// Keys of etcdmain's `configProxy`, read in a second pass.
    private static let proxyFields: [(key: String, type: FieldType)] = [
        ("proxy-failure-wait", uint), ("proxy-refresh-interval", uint), ("proxy-dial-timeout", uint),
        ("proxy-write-timeout", uint), ("proxy-read-timeout", uint), ("proxy", .string),
        ("discovery-fallback", .string),
    ]

    private static let securityFields: [(key: String, type: FieldType, flag: String)] = [
        ("cert-file", .string, "cert-file"), ("key-file", .string, "key-file"),
        ("client-cert-auth", .bool, "client-cert-auth"), ("trusted-ca-file", .string, "trusted-ca-file"),
        ("auto-tls", .bool, "auto-tls"),
    ]

    /// Reads and applies a config file as etcd 3.4 does; returns the configuration (validated) and the
    /// keys given, as flag names with raw text.
    static func load(path: String) throws(ConfigError) -> (ServerConfig, [String: String]) {
        let text = try readFile(path)
        let root: JSONValue
        do {
            root = try Yams.compose(yaml: text).map { JSONValue($0) } ?? .null
        } catch let error as YamlError {
            throw .verify("error converting YAML to JSON: yaml: \(describe(error))")
        } catch {
            throw .verify("error converting YAML to JSON: yaml: \(error)")
        }
        let pairs: [(String, JSONValue)]
        switch root {
        case .null: pairs = []
        case .object(let p): pairs = p.sorted { $0.0 < $1.0 }
        default:
            throw .verify("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal \(root.kindName) "
                + "into Go value of type embed.configYAML")
        }

        // Values decoded by Go field name (json tag); later keys win, as when Go decodes sorted JSON.
        var values: [String: JSONValue] = [:]
        var clientSecurity: [String: JSONValue] = [:]
        var peerSecurity: [String: JSONValue] = [:]
        var given: [String: String] = [:]
        for (key, value) in pairs {
            guard let field = mainFields.first(where: { $0.key.lowercased() == key.lowercased() }) else { continue }
            if case .null = value { continue }
            try check(value, as: field.type, path: "configYAML.\(field.key)")
            if case .security = field.type, case .object(let inner) = value {
                for (k, v) in inner.sorted(by: { $0.0 < $1.0 }) {
                    guard let f = securityFields.first(where: { $0.key.lowercased() == k.lowercased() }) else {
                        continue
                    }
                    if case .null = v { continue }
                    try check(v, as: f.type, path: "configYAML.\(field.key).\(f.key)")
                    let flag = field.key.hasPrefix("peer") ? "peer-" + f.flag : f.flag
                    given[flag] = rawText(v)
                    if field.key.hasPrefix("peer") { peerSecurity[f.key] = v } else { clientSecurity[f.key] = v }
                }
                continue
            }
            values[field.key] = value
            given[field.key] = rawText(value)
        }

        var cfg = ServerConfig()
        // embed.NewConfig leaves these unset, unlike the flag defaults.
        cfg.autoCompactionMode = ""
        cfg.autoCompactionRetention = ""
        cfg.enableGRPCGateway = false
        cfg.proxy.discoveryFallback = ""
        apply(values, to: &cfg)
        try applyURLs(values, to: &cfg)
        if let v = values["cors"], case .string(let s) = v, !s.isEmpty {
            var u = UniqueURLs("", exceptions: ["*"])
            do { try u.set(s) } catch {
                throw ConfigError(kind: .fatal, message: "new UniqueURLs should never fail: \(error.message)",
                                  exitCode: 2)
            }
            cfg.cors = u.values
        }
        if let v = values["host-whitelist"], case .string(let s) = v, !s.isEmpty {
            cfg.hostWhitelist = UniqueStrings(s).values
        }
        let discovering = !cfg.discovery.isEmpty || !cfg.discoverySRV.isEmpty
        if discovering && cfg.initialCluster == "default=http://localhost:2380" {
            cfg.initialCluster = ""
        }
        if cfg.initialClusterState.isEmpty { cfg.initialClusterState = "new" }
        applySecurity(clientSecurity, to: &cfg.clientTLS)
        applySecurity(peerSecurity, to: &cfg.peerTLS)
        try cfg.validate(advertiseClientURLsUnset: false)

        // etcdmain's second pass for the v2 proxy settings.
        for (key, value) in pairs {
            guard let field = proxyFields.first(where: { $0.key.lowercased() == key.lowercased() }) else { continue }
            if case .null = value { continue }
            try check(value, as: field.type, path: "configProxy.\(field.key)")
            given[field.key] = rawText(value)
            switch (field.key, value) {
            case ("proxy", .string(let s)):
                if !s.isEmpty {
                    guard ["off", "readonly", "on"].contains(s) else {
                        throw .fatal("unexpected error setting up proxyFlag: invalid value")
                    }
                    cfg.proxy.mode = s
                }
            case ("discovery-fallback", .string(let s)):
                if !s.isEmpty {
                    guard ["proxy", "exit"].contains(s) else {
                        throw .fatal("unexpected error setting up discovery-fallback flag: invalid value")
                    }
                    cfg.proxy.discoveryFallback = s
                }
            case (let k, .number(_, let n?)):
                switch k {
                case "proxy-failure-wait": cfg.proxy.failureWaitMs = n
                case "proxy-refresh-interval": cfg.proxy.refreshIntervalMs = n
                case "proxy-dial-timeout": cfg.proxy.dialTimeoutMs = n
                case "proxy-write-timeout": cfg.proxy.writeTimeoutMs = n
                default: cfg.proxy.readTimeoutMs = n
                }
            default: break
            }
        }
        return (cfg, given)
    }

    private static func readFile(_ path: String) throws(ConfigError) -> String {
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw .verify("open \(path): \(errnoText())") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw .verify("read \(path): \(errnoText())") }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Go's error text for errno: strerror with a lower-case first letter.
    private static func errnoText() -> String {
        let text = String(cString: strerror(errno))
        return text.prefix(1).lowercased() + text.dropFirst()
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return mark.line > 1 ? "line \(mark.line - 1): \(problem)" : problem
        case .reader(let problem, _, _, _):
            return problem
        default:
            return "\(error)"
        }
    }

    /// Go's json type check; the message is encoding/json's `UnmarshalTypeError` text.
    private static func check(_ value: JSONValue, as type: FieldType, path: String) throws(ConfigError) {
        func mismatch(_ what: String, goType: String? = nil) -> ConfigError {
            .verify("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal \(what) into Go struct "
                + "field \(path) of type \(goType ?? type.goName)")
        }
        switch (type, value) {
        case (_, .null): return
        case (.string, .string), (.bool, .bool), (.security, .object): return
        case (.stringList, .array(let items)):
            for item in items {
                switch item {
                case .string, .null: continue
                default: throw mismatch(item.kindName, goType: "string")
                }
            }
        case (.integer(_, let min, let max), .number(let text, let n)):
            guard let n, n >= min, n <= max else { throw mismatch("number \(text)") }
        case (.duration, .number(let text, let n)):
            if n == nil { throw mismatch("number \(text)") }
        default:
            throw mismatch(value.kindName)
        }
    }

    private static func rawText(_ v: JSONValue) -> String {
        switch v {
        case .null: return ""
        case .bool(let b): return b ? "true" : "false"
        case .number(let t, _): return t
        case .string(let s): return s
        case .array(let items): return items.map(rawText).joined(separator: ",")
        case .object: return ""
        }
    }

    private static func apply(_ values: [String: JSONValue], to cfg: inout ServerConfig) {
        for (key, value) in values {
            switch value {
            case .string(let s): applyString(key, s, &cfg)
            case .bool(let b): applyBool(key, b, &cfg)
            case .number(_, let n?): applyNumber(key, n, &cfg)
            case .array(let items):
                let list = items.compactMap { if case .string(let s) = $0 { return s } else { return "" } }
                switch key {
                case "cipher-suites": cfg.cipherSuites = list
                case "log-outputs": cfg.logging.outputs = list
                case "log-output": cfg.logging.deprecatedOutput = list
                default: break
                }
            default: break
            }
        }
    }

    private static func applyString(_ key: String, _ s: String, _ cfg: inout ServerConfig) {
        switch key {
        case "name": cfg.name = s
        case "data-dir": cfg.dataDir = s
        case "wal-dir": cfg.walDir = s
        case "initial-cluster-state": cfg.initialClusterState = s
        case "discovery-srv": cfg.discoverySRV = s
        case "discovery-srv-name": cfg.discoverySRVName = s
        case "discovery-proxy": cfg.discoveryProxy = s
        case "discovery": cfg.discovery = s
        case "initial-cluster": cfg.initialCluster = s
        case "initial-cluster-token": cfg.initialClusterToken = s
        case "auto-compaction-mode": cfg.autoCompactionMode = s
        case "auto-compaction-retention": cfg.autoCompactionRetention = s
        case "auth-token": cfg.authToken = s
        case "experimental-enable-v2v3": cfg.experimental.enableV2V3 = s
        case "experimental-backend-bbolt-freelist-type": cfg.experimental.backendBboltFreelistType = s
        case "metrics": cfg.metrics = s
        case "logger": cfg.logging.logger = s
        case "log-level": cfg.logging.level = s
        case "log-package-levels": cfg.logging.packageLevels = s
        default: break  // URL lists, cors and host-whitelist are handled after decoding
        }
    }

    private static func applyBool(_ key: String, _ b: Bool, _ cfg: inout ServerConfig) {
        switch key {
        case "initial-election-tick-advance": cfg.initialElectionTickAdvance = b
        case "strict-reconfig-check": cfg.strictReconfigCheck = b
        case "enable-v2": cfg.enableV2 = b
        case "pre-vote": cfg.preVote = b
        case "experimental-initial-corrupt-check": cfg.experimental.initialCorruptCheck = b
        case "experimental-enable-lease-checkpoint": cfg.experimental.enableLeaseCheckpoint = b
        case "experimental-enable-lease-checkpoint-persist": cfg.experimental.enableLeaseCheckpointPersist = b
        case "force-new-cluster": cfg.forceNewCluster = b
        case "enable-pprof": cfg.enablePprof = b
        case "enable-grpc-gateway": cfg.enableGRPCGateway = b
        case "debug": cfg.logging.debug = b
        case "unsafe-no-fsync": cfg.unsafeNoFsync = b
        default: break
        }
    }

    private static func applyNumber(_ key: String, _ n: Int, _ cfg: inout ServerConfig) {
        switch key {
        case "snapshot-count": cfg.snapshotCount = n
        case "max-snapshots": cfg.maxSnapshots = n
        case "max-wals": cfg.maxWALs = n
        case "heartbeat-interval": cfg.heartbeatIntervalMs = n
        case "election-timeout": cfg.electionTimeoutMs = n
        case "backend-batch-interval": cfg.backendBatchInterval = .nanoseconds(n)
        case "backend-batch-limit": cfg.backendBatchLimit = n
        case "quota-backend-bytes": cfg.quotaBackendBytes = n
        case "max-txn-ops": cfg.maxTxnOps = n
        case "max-request-bytes": cfg.maxRequestBytes = n
        case "max-concurrent-streams": cfg.maxConcurrentStreams = n
        case "grpc-keepalive-min-time": cfg.grpcKeepAliveMinTime = .nanoseconds(n)
        case "grpc-keepalive-interval": cfg.grpcKeepAliveInterval = .nanoseconds(n)
        case "grpc-keepalive-timeout": cfg.grpcKeepAliveTimeout = .nanoseconds(n)
        case "bcrypt-cost": cfg.bcryptCost = n
        case "auth-token-ttl": cfg.authTokenTTL = n
        case "experimental-corrupt-check-time": cfg.experimental.corruptCheckTime = .nanoseconds(n)
        case "experimental-compaction-batch-limit": cfg.experimental.compactionBatchLimit = n
        case "experimental-watch-progress-notify-interval":
            cfg.experimental.watchProgressNotifyInterval = .nanoseconds(n)
        case "experimental-warning-apply-duration": cfg.experimental.warningApplyDuration = .nanoseconds(n)
        default: break
        }
    }

    private static func applyURLs(_ values: [String: JSONValue], to cfg: inout ServerConfig) throws(ConfigError) {
        // etcd's messages, including its "advertise-peer-urls" slip for the client list.
        let lists: [(String, String, WritableKeyPath<ServerConfig, [ServerURL]>)] = [
            ("listen-peer-urls", "listen-peer-urls", \.listenPeerURLs),
            ("listen-client-urls", "listen-client-urls", \.listenClientURLs),
            ("initial-advertise-peer-urls", "initial-advertise-peer-urls", \.advertisePeerURLs),
            ("advertise-client-urls", "advertise-peer-urls", \.advertiseClientURLs),
            ("listen-metrics-urls", "listen-metrics-urls", \.listenMetricsURLs),
        ]
        for (key, label, kp) in lists {
            guard let v = values[key], case .string(let s) = v, !s.isEmpty else { continue }
            do {
                cfg[keyPath: kp] = try ServerURL.parseList(s.split(separator: ",", omittingEmptySubsequences: false)
                    .map(String.init))
            } catch {
                throw .fatal("unexpected error setting up \(label): \(error.message)")
            }
        }
    }

    private static func applySecurity(_ values: [String: JSONValue], to tls: inout TLSConfig) {
        func string(_ k: String) -> String { if case .string(let s)? = values[k] { return s } else { return "" } }
        func bool(_ k: String) -> Bool { if case .bool(let b)? = values[k] { return b } else { return false } }
        tls.certFile = string("cert-file")
        tls.keyFile = string("key-file")
        tls.clientCertAuth = bool("client-cert-auth")
        tls.trustedCAFile = string("trusted-ca-file")
        tls.autoTLS = bool("auto-tls")
    }
}
