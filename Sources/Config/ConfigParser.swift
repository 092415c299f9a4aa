import GoSyntax

/// What the command line asks for.
public enum ParseOutcome: Sendable {
    /// Start a member with this configuration.
    case run(ServerConfig)
    /// `-h`/`--help`: print this text to stdout and exit 0 (etcd also prints ``ConfigParser/usage`` to stderr).
    case help(String)
    /// `--version`: print this text to stdout and exit 0.
    case version(String)
}

/// Version lines printed by `--version`; the lead fills in the values.
public enum BuildInfo {
    /// The etcd version this server speaks for (`etcd Version:` line).
    public static let etcdVersion = "3.4.23"
    /// `Git SHA:` line.
    public static let gitSHA = "Not provided"
    /// `Go Version:` line (we print the Swift toolchain instead).
    public static let runtimeVersion: String = {
        #if compiler(>=6.2)
        return "swift6.2"
        #elseif compiler(>=6.1)
        return "swift6.1"
        #else
        return "swift6.0"
        #endif
    }()
    /// `Go OS/Arch:` line.
    public static let osArch: String = {
        #if os(Linux)
        let os = "linux"
        #elseif os(macOS)
        let os = "darwin"
        #else
        let os = "unknown"
        #endif
        #if arch(x86_64)
        return os + "/amd64"
        #elseif arch(arm64)
        return os + "/arm64"
        #else
        return os + "/unknown"
        #endif
    }()
}

/// Reads etcd 3.4's command line, `ETCD_*` environment and `--config-file` exactly as etcd does.
public enum ConfigParser {
    /// Flags this server implements; any other flag given (at a non-default value) is listed in
    /// ``ServerConfig/unsupported``. Edit as features land.
    public static let defaultSupportedFlags: Set<String> = [
        "name", "data-dir", "listen-client-urls", "advertise-client-urls", "listen-peer-urls",
        "initial-advertise-peer-urls", "initial-cluster", "initial-cluster-token", "initial-cluster-state",
        "max-request-bytes", "max-txn-ops", "quota-backend-bytes", "log-level", "logger", "log-outputs",
        "snapshot-count", "heartbeat-interval", "election-timeout", "config-file", "version", "help",
        "cert-file", "key-file", "client-cert-auth", "trusted-ca-file", "auto-tls", "client-crl-file",
        "peer-cert-file", "peer-key-file", "peer-client-cert-auth", "peer-trusted-ca-file", "peer-auto-tls",
        "peer-crl-file", "peer-cert-allowed-cn", "peer-cert-allowed-hostname", "cipher-suites",
        "experimental-peer-skip-client-san-verification", "client-cert-allowed-hostname",
        "experimental-initial-corrupt-check", "experimental-corrupt-check-time",
        "strict-reconfig-check", "auth-token", "auth-token-ttl", "bcrypt-cost",
        "listen-metrics-urls", "metrics", "max-concurrent-streams", "wal-dir", "cors", "host-whitelist",
        "auto-compaction-mode", "auto-compaction-retention", "experimental-watch-progress-notify-interval",
        "pre-vote", "force-new-cluster", "max-wals", "grpc-keepalive-min-time", "grpc-keepalive-interval",
        "grpc-keepalive-timeout", "unsafe-no-fsync", "debug",
        "initial-election-tick-advance",
        // etcd purges its .snap files beyond this; etcd-swift keeps none (the snapshot mark is in
        // the backend, a received snapshot's file is moved into it), so the bound always holds.
        "max-snapshots",
    ]

    /// The usage lines etcd prints to stderr with help and after a flag syntax error.
    public static let usage = HelpText.usage

    /// The `--version` text.
    public static var versionText: String {
        "etcd Version: \(BuildInfo.etcdVersion)\nGit SHA: \(BuildInfo.gitSHA)\n"
            + "Go Version: \(BuildInfo.runtimeVersion)\nGo OS/Arch: \(BuildInfo.osArch)\n"
    }

    /// Parses `arguments` (without the program name) and `environment` as etcd 3.4's `etcd` command.
    ///
    /// Flags use Go's `flag` syntax (`-f`, `--f`, `-f=v`, `--f v`; booleans never take the next
    /// argument; `--` ends flags). Without a config file, `ETCD_<FLAG>` variables fill flags not
    /// given on the command line; a variable for a flag that *was* given is a fatal error, as in etcd.
    /// A config file (`--config-file` or `ETCD_CONFIG_FILE`) replaces flags and environment.
    ///
    /// `defaultHost` is what etcd advertises instead of localhost for a 0.0.0.0 listener left with the
    /// default advertise URL (etcd detects it from the default route; pass nil to turn that off).
    public static func parse(arguments: [String], environment: [String: String],
                             supportedFlags: Set<String> = defaultSupportedFlags,
                             defaultHost: String? = detectDefaultHost()) throws(ConfigError) -> ParseOutcome {
        let specs = FlagSpec.all
        var byName: [String: FlagSpec] = [:]
        for s in specs { byName[s.name] = s }
        var state = ParseState()
        var given: [String: String] = [:]

        var args = arguments[...]
        while let s = args.first {
            if s.utf8.count < 2 || !s.hasPrefix("-") { break }
            var minuses = 1
            if s.hasPrefix("--") {
                minuses = 2
                if s == "--" {
                    args = args.dropFirst()
                    break
                }
            }
            var name = String(s.dropFirst(minuses))
            if name.isEmpty || name.hasPrefix("-") || name.hasPrefix("=") {
                throw .usage("bad flag syntax: \(s)")
            }
            args = args.dropFirst()
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let spec = byName[name] else {
                if name == "help" || name == "h" { return .help(HelpText.full(specs)) }
                throw .usage("flag provided but not defined: -\(name)")
            }
            if spec.isBool {
                do {
                    try spec.set(value ?? "true", in: &state)
                } catch {
                    if let value {
                        throw .usage("invalid boolean value \(GoSyntax.quote(value)) for -\(name): \(error.message)")
                    }
                    throw .usage("invalid boolean flag \(name): \(error.message)")
                }
                given[name] = value ?? "true"
            } else {
                if value == nil, let next = args.first {
                    value = next
                    args = args.dropFirst()
                }
                guard let value else { throw .usage("flag needs an argument: -\(name)") }
                do {
                    try spec.set(value, in: &state)
                } catch {
                    throw .usage("invalid value \(GoSyntax.quote(value)) for flag -\(name): \(error.message)")
                }
                given[name] = value
            }
            state.setFlags.insert(name)
        }
        if let extra = args.first { throw .verify("'\(extra)' is not a valid flag") }
        if state.printVersion { return .version(versionText) }

        if state.configFile.isEmpty { state.configFile = environment["ETCD_CONFIG_FILE"] ?? "" }
        var cfg: ServerConfig
        if !state.configFile.isEmpty {
            let path = state.configFile
            state.messages.append(ConfigMessage(
                level: .info,
                text: "loaded server configuration, other configuration command line flags and environment variables will be ignored if provided",
                fields: ["path": path]))
            (cfg, given) = try ConfigFile.load(path: path)
            cfg.messages = state.messages + cfg.messages
            cfg.source = .configFile(path: path)
        } else {
            cfg = try fromCommandLine(state, environment: environment, specs: specs, given: &given)
        }
        finish(&cfg, defaultHost: defaultHost)
        cfg.givenFlags = given
        cfg.unsupported = unsupported(given: given, specs: byName, supported: supportedFlags)
        return .run(cfg)
    }

    /// etcdmain's `configFromCmdLine`: environment, URL flags, then validation.
    private static func fromCommandLine(_ parsed: ParseState, environment: [String: String], specs: [FlagSpec],
                                        given: inout [String: String]) throws(ConfigError) -> ServerConfig {
        var state = parsed
        let alreadySet = Set(specs.filter { state.setFlags.contains($0.name) }.map(\.environmentKey))
        var used: Set<String> = []
        var envError: ConfigError?
        for spec in specs.sorted(by: { $0.name < $1.name }) {
            let key = spec.environmentKey
            guard !alreadySet.contains(key), let value = environment[key], !value.isEmpty else { continue }
            used.insert(key)
            do {
                try spec.set(value, in: &state)
                state.setFlags.insert(spec.name)
                given[spec.name] = value
                state.messages.append(ConfigMessage(level: .info,
                                                    text: "recognized and used environment variable \(key)=\(value)"))
            } catch {
                envError = .verify("invalid value \(GoSyntax.quote(value)) for \(key): \(error.message)")
            }
        }
        for key in environment.keys.sorted() where !used.contains(key) {
            if alreadySet.contains(key) {
                throw .fatal("conflicting environment variable \(GoSyntax.quote(key)) is shadowed by corresponding "
                    + "command-line flag (either unset environment variable or disable flag)")
            }
            if key.hasPrefix("ETCD_") {
                state.messages.append(ConfigMessage(
                    level: .warning, text: "unrecognized environment variable \(key)=\(environment[key] ?? "")"))
            }
        }
        if let envError { throw envError }

        var cfg = state.cfg
        cfg.listenPeerURLs = state.listenPeerURLs.urls
        cfg.advertisePeerURLs = state.advertisePeerURLs.urls
        cfg.listenClientURLs = state.listenClientURLs.urls
        cfg.advertiseClientURLs = state.advertiseClientURLs.urls
        cfg.listenMetricsURLs = state.listenMetricsURLs.urls
        cfg.cors = state.cors.values
        cfg.hostWhitelist = state.hostWhitelist.values
        cfg.logging.deprecatedOutput = state.logOutput.sorted
        cfg.logging.outputs = state.logOutputs.sorted
        cfg.messages = state.messages

        let mayBeProxy = cfg.mayBeProxy
        let missingAdvertise = state.setFlags.contains("listen-client-urls")
            && !state.setFlags.contains("advertise-client-urls")
        let advertiseUnset = !mayBeProxy && missingAdvertise
        if advertiseUnset { cfg.advertiseClientURLs = [] }
        if !(cfg.discovery.isEmpty && cfg.discoverySRV.isEmpty && cfg.discoverySRVName.isEmpty)
            && !state.setFlags.contains("initial-cluster") {
            cfg.initialCluster = ""
        }
        do {
            try cfg.validate(advertiseClientURLsUnset: advertiseUnset)
        } catch {
            if !(error.message == ConfigError.unsetAdvertiseClientURLs && mayBeProxy) { throw error }
        }
        return cfg
    }

    /// etcd's start-up defaults applied after parsing (etcdmain/etcd.go): the default host, the
    /// initial cluster following `--name`, and the data dir defaulting to `<name>.etcd`.
    private static func finish(_ cfg: inout ServerConfig, defaultHost: String?) {
        if let used = cfg.applyDefaultHost(defaultHost) {
            cfg.messages.append(ConfigMessage(level: .info, text: "detected default host for advertise",
                                              fields: ["host": used]))
        }
        if cfg.dataDir.isEmpty {
            cfg.dataDir = "\(cfg.name).etcd"
            cfg.messages.append(ConfigMessage(level: .warning, text: "'data-dir' was empty; using default",
                                              fields: ["data-dir": cfg.dataDir]))
        }
    }

    private static func unsupported(given: [String: String], specs: [String: FlagSpec],
                                    supported: Set<String>) -> [String] {
        given.compactMap { name, raw -> String? in
            if supported.contains(name) { return nil }
            guard let spec = specs[name] else { return nil }
            if case .ignored = spec.kind { return nil }
            if spec.isBool {
                if GoSyntax.parseBool(raw) == GoSyntax.parseBool(spec.defaultText) { return nil }
            } else if raw == spec.defaultText {
                return nil
            }
            return name
        }.sorted()
    }
}

extension ServerConfig {
    /// etcdmain's `mayBeProxy`: v2 proxy mode, or discovery that may fall back to it.
    var mayBeProxy: Bool {
        proxy.mode != "off" || (!discovery.isEmpty && proxy.discoveryFallback == "proxy")
    }

    /// embed's `InitialClusterFromName`: "<name>=<peer URL>" for each advertised peer URL.
    func initialClusterFromName() -> String {
        let n = name.isEmpty ? "default" : name
        return advertisePeerURLs.map { "\(n)=\($0)" }.joined(separator: ",")
    }
}
