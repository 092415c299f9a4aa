import GoSyntax

// etcd's checks of a parsed configuration: embed `Config.Validate` (with its logging set-up
// checks) at parse time, and etcdserver's `VerifyBootstrap` / `VerifyJoinExisting`, which etcd runs
// only when a member starts without a WAL, so the caller decides when to run them.

extension ServerConfig {
    /// embed's `Validate`, in etcd's order. `advertiseClientURLsUnset` mirrors etcd clearing the
    /// advertise URLs when only `--listen-client-urls` was given.
    mutating func validate(advertiseClientURLsUnset: Bool) throws(ConfigError) {
        try checkLogging()
        try Self.checkBind(listenPeerURLs)
        try Self.checkBind(listenClientURLs)
        try Self.checkBind(listenMetricsURLs)
        if let bad = Self.firstEmptyHost(advertisePeerURLs) {
            let all = advertisePeerURLs.map(\.description).joined(separator: ",")
            throw .verify("--initial-advertise-peer-urls \(GoSyntax.quote(all)) must be \"host:port\" "
                + "(unexpected empty host (\(bad)))")
        }
        if let bad = Self.firstEmptyHost(advertiseClientURLs) {
            let all = advertiseClientURLs.map(\.description).joined(separator: ",")
            throw .verify("--advertise-client-urls \(GoSyntax.quote(all)) must be \"host:port\" "
                + "(unexpected empty host (\(bad)))")
        }
        let bootstrapWays = [!discovery.isEmpty, !initialCluster.isEmpty, !discoverySRV.isEmpty].filter { $0 }.count
        if initialClusterState != "new" && initialClusterState != "existing" {
            throw .verify("unexpected clusterState \(GoSyntax.quote(initialClusterState))")
        }
        if bootstrapWays > 1 { throw .verify(ConfigError.conflictBootstrapFlags) }
        if heartbeatIntervalMs <= 0 {
            throw .verify("--heartbeat-interval must be >0 (set to \(heartbeatIntervalMs)ms)")
        }
        if electionTimeoutMs <= 0 {
            throw .verify("--election-timeout must be >0 (set to \(electionTimeoutMs)ms)")
        }
        if 5 * heartbeatIntervalMs > electionTimeoutMs {
            throw .verify("--election-timeout[\(electionTimeoutMs)ms] should be at least as 5 times as "
                + "--heartbeat-interval[\(heartbeatIntervalMs)ms]")
        }
        if electionTimeoutMs > 50000 {
            throw .verify("--election-timeout[\(electionTimeoutMs)ms] is too long, and should be set less than 50000ms")
        }
        if advertiseClientURLsUnset { throw .verify(ConfigError.unsetAdvertiseClientURLs) }
        if !["", "periodic", "revision"].contains(autoCompactionMode) {
            throw .verify("unknown auto-compaction-mode \(GoSyntax.quote(autoCompactionMode))")
        }
        if !experimental.enableLeaseCheckpointPersist && experimental.enableLeaseCheckpoint {
            messages.append(ConfigMessage(level: .warning, text: "Detected that checkpointing is enabled without "
                + "persistence. Consider enabling experimental-enable-lease-checkpoint-persist"))
        }
        if experimental.enableLeaseCheckpointPersist && !experimental.enableLeaseCheckpoint {
            throw .verify("setting experimental-enable-lease-checkpoint-persist requires "
                + "experimental-enable-lease-checkpoint")
        }
    }

    private static func checkBind(_ urls: [ServerURL]) throws(ConfigError) {
        for u in urls where u.scheme != "unix" && u.scheme != "unixs" {
            guard let (host, _) = ServerURL.splitHostPort(u.hostPort) else {
                throw .verify("address \(u.hostPort): missing port in address")
            }
            if host == "localhost" { continue }
            if !ServerURL.parseIP(host) { throw .verify("expected IP in URL for binding (\(u))") }
        }
    }

    private static func firstEmptyHost(_ urls: [ServerURL]) -> String? {
        for u in urls {
            if let (host, _) = ServerURL.splitHostPort(u.hostPort), host.isEmpty { return u.description }
        }
        return nil
    }

    /// The checks and warnings of embed's `setupLogging` (the logger itself is the caller's).
    private mutating func checkLogging() throws(ConfigError) {
        func warn(_ text: String) { messages.append(ConfigMessage(level: .warning, text: text)) }
        let deprecatedCount = logging.deprecatedOutput.count
        let count = logging.outputs.count
        if deprecatedCount != count {
            if deprecatedCount > count {
                warn("'--log-output' flag has been deprecated! Please use '--log-outputs'!")
                logging.outputs = logging.deprecatedOutput
            } else {
                logging.deprecatedOutput = []
            }
        } else {
            if deprecatedCount > 1 {
                throw .verify("both '--log-output' and '--log-outputs' are set; only set '--log-outputs'")
            }
            if deprecatedCount < 1 { throw .verify("either '--log-output' or '--log-outputs' flag must be set") }
            if logging.deprecatedOutput == logging.outputs && logging.deprecatedOutput[0] != "default" {
                throw .verify("'--log-output=\(GoSyntax.quote(logging.deprecatedOutput))' and "
                    + "'--log-outputs=\(GoSyntax.quote(logging.outputs))' are incompatible; "
                    + "only set --log-outputs")
            }
            if logging.deprecatedOutput != ["default"] {
                warn("[WARNING] Deprecated '--log-output' flag is set to \(GoSyntax.quote(logging.deprecatedOutput))")
                warn("Please use '--log-outputs' flag")
            }
        }
        if logging.debug {
            warn("[WARNING] Deprecated '--debug' flag is set to true (use '--log-level=debug' instead")
        }
        if logging.debug && logging.level != "debug" {
            warn("[WARNING] Deprecated '--debug' flag is set to true with inconsistent "
                + "'--log-level=\(logging.level)' flag")
        }
        if logging.logger == "capnslog" {
            warn("[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead")
        }
        if !logging.packageLevels.isEmpty {
            warn("[WARNING] Deprecated '--log-package-levels=\(logging.packageLevels)' flag is set; "
                + "use '--logger=zap' flag instead")
        }
        let levels = ["debug", "info", "warn", "error", "dpanic", "panic", "fatal"]
        // etcd panics on an unknown level; a Go panic exits with status 2.
        let badLevel = ConfigError(kind: .fatal, message: "unknown level \(GoSyntax.quote(logging.level))", exitCode: 2)
        switch logging.logger {
        case "capnslog":
            if !logging.debug && !levels.contains(logging.level) { throw badLevel }
            if logging.outputs.count != 1 {
                throw .verify("--logger=capnslog supports only 1 value in '--log-outputs', got "
                    + GoSyntax.quote(logging.outputs))
            }
            let output = logging.outputs[0]
            if !["stderr", "stdout", "default"].contains(output) {
                throw .verify("unknown log-output \(GoSyntax.quote(output)) "
                    + "(only supports \"default\", \"stderr\", \"stdout\")")
            }
        case "zap":
            if logging.outputs.isEmpty { logging.outputs = ["default"] }
            if logging.outputs.count > 1 && logging.outputs.contains("default") {
                throw .verify("multi logoutput for \"default\" is not supported yet")
            }
            if logging.outputs.contains("systemd/journal") && logging.outputs.count > 1 {
                throw .verify("running with systemd/journal but other '--log-outputs' values "
                    + "(\(GoSyntax.quote(logging.outputs))) are configured with 'default'; "
                    + "override 'default' value with something else")
            }
            if !levels.contains(logging.level) { throw badLevel }
        default:
            throw .verify("unknown logger option \(GoSyntax.quote(logging.logger))")
        }
    }
}

extension ServerConfig {
    /// The initial cluster as a map from member name to its sorted peer URLs (etcd's
    /// `PeerURLsMapAndToken`): from `--initial-cluster`, or this member alone with `--discovery`.
    /// `--discovery-srv` needs DNS and is not resolved here.
    public func initialClusterMembers() throws(ConfigError) -> [String: [ServerURL]] {
        if !discovery.isEmpty { return [name: advertisePeerURLs] }
        var raw: [String: [String]] = [:]
        var order: [String] = []
        for entry in initialCluster.split(separator: ",", omittingEmptySubsequences: true) {
            var key = Substring(entry)
            var value: Substring = ""
            if let eq = entry.firstIndex(of: "=") {
                key = entry[..<eq]
                value = entry[entry.index(after: eq)...]
            }
            if raw[String(key)] == nil { order.append(String(key)) }
            raw[String(key), default: []].append(String(value))
        }
        var out: [String: [ServerURL]] = [:]
        for member in order {
            do {
                out[member] = try ServerURL.parseList(raw[member] ?? [])
            } catch {
                throw .fatal("error setting up initial cluster: \(error.message)")
            }
        }
        return out
    }

    /// The token the cluster ID is derived from: the discovery URL when discovering, else
    /// `--initial-cluster-token`.
    public var effectiveClusterToken: String { discovery.isEmpty ? initialClusterToken : discovery }

    /// etcdserver's `VerifyBootstrap`, which etcd runs when a new cluster starts without a WAL.
    public func verifyBootstrap() throws(ConfigError) {
        let members = try initialClusterMembers()
        try checkLocalMember(members)
        try checkAdvertiseMatchesCluster(members)
        if let dup = Self.duplicateURL(members) { throw .fatal("initial cluster \(dup) has duplicate url") }
        if Self.clusterString(members).isEmpty && discovery.isEmpty {
            throw .fatal("initial cluster unset and no discovery URL found")
        }
    }

    /// etcdserver's `VerifyJoinExisting`, run when joining an existing cluster without a WAL.
    public func verifyJoinExisting() throws(ConfigError) {
        let members = try initialClusterMembers()
        try checkLocalMember(members)
        if let dup = Self.duplicateURL(members) { throw .fatal("initial cluster \(dup) has duplicate url") }
        if !discovery.isEmpty {
            throw .fatal("discovery URL should not be set when joining existing initial cluster")
        }
    }

    private func checkLocalMember(_ members: [String: [ServerURL]]) throws(ConfigError) {
        if members[name] == nil {
            throw .fatal("couldn't find local name \(GoSyntax.quote(name)) in the initial cluster configuration")
        }
    }

    /// Go's `URLsMap.String()`: "name=url" pairs sorted.
    static func clusterString(_ members: [String: [ServerURL]]) -> String {
        members.flatMap { name, urls in urls.map { "\(name)=\($0)" } }.sorted().joined(separator: ",")
    }

    private static func duplicateURL(_ members: [String: [ServerURL]]) -> String? {
        var seen: Set<String> = []
        for urls in members.values {
            for u in urls where !seen.insert(u.description).inserted { return clusterString(members) }
        }
        return nil
    }

    private func checkAdvertiseMatchesCluster(_ members: [String: [ServerURL]]) throws(ConfigError) {
        let clusterURLs = (members[name] ?? []).map(\.description).sorted()
        let advertised = advertisePeerURLs.map(\.description).sorted()
        // etcd resolves host names before comparing; "localhost" is the one name resolved here.
        func resolved(_ s: String) -> String {
            guard let u = try? ServerURL.parse(s), u.host == "localhost" else { return s }
            var r = u
            r.host = "127.0.0.1"
            r.hostPort = "127.0.0.1" + (u.hostPort.dropFirst("localhost".count))
            return r.description
        }
        var reason: String
        if clusterURLs.count != advertised.count {
            reason = "len(\(GoSyntax.quote(advertised))) != len(\(GoSyntax.quote(clusterURLs)))"
        } else {
            let a = advertised.map(resolved).sorted()
            let b = clusterURLs.map(resolved).sorted()
            guard let i = a.indices.first(where: { a[$0] != b[$0] }) else { return }
            reason = "resolved urls: \(GoSyntax.quote(a[i])) != \(GoSyntax.quote(b[i]))"
        }
        let own = Self.clusterString([name: advertisePeerURLs])
        let missingFromAdvertised = Set(clusterURLs).subtracting(advertised).sorted()
        if !missingFromAdvertised.isEmpty {
            let m = missingFromAdvertised.map { "\(name)=\($0)" }.joined(separator: ",")
            throw .fatal("--initial-cluster has \(m) but missing from --initial-advertise-peer-urls="
                + "\(advertised.joined(separator: ",")) (\(reason))")
        }
        let missingFromCluster = Set(advertised).subtracting(clusterURLs).sorted()
        if !missingFromCluster.isEmpty {
            throw .fatal("--initial-advertise-peer-urls has \(missingFromCluster.joined(separator: ",")) "
                + "but missing from --initial-cluster=\(own)")
        }
        throw .fatal("failed to resolve \(advertised.joined(separator: ",")) to match "
            + "--initial-cluster=\(own) (\(reason))")
    }
}
