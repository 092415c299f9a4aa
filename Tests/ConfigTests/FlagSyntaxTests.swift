import GoSyntax
import Config
import XCTest

final class FlagSyntaxTests: XCTestCase {
    func testDefaultsMatchEtcd() throws {
        let cfg = try XCTUnwrap(runConfig([]))
        XCTAssertEqual(cfg.name, "default")
        XCTAssertEqual(cfg.dataDir, "default.etcd")
        XCTAssertEqual(cfg.walDir, "")
        XCTAssertEqual(cfg.walDirectory, "default.etcd/member/wal")
        XCTAssertEqual(cfg.listenClient, ["http://localhost:2379"])
        XCTAssertEqual(cfg.advertiseClient, ["http://localhost:2379"])
        XCTAssertEqual(cfg.listenPeer, ["http://localhost:2380"])
        XCTAssertEqual(cfg.advertisePeer, ["http://localhost:2380"])
        XCTAssertEqual(cfg.listenClientURLs[0].scheme, "http")
        XCTAssertEqual(cfg.listenClientURLs[0].host, "localhost")
        XCTAssertEqual(cfg.listenClientURLs[0].port, 2379)
        XCTAssertEqual(cfg.listenMetricsURLs, [])
        XCTAssertEqual(cfg.initialCluster, "default=http://localhost:2380")
        XCTAssertEqual(cfg.initialClusterState, "new")
        XCTAssertTrue(cfg.isNewCluster)
        XCTAssertEqual(cfg.initialClusterToken, "etcd-cluster")
        XCTAssertEqual(cfg.snapshotCount, 100_000)
        XCTAssertEqual(cfg.heartbeatIntervalMs, 100)
        XCTAssertEqual(cfg.electionTimeoutMs, 1000)
        XCTAssertEqual(cfg.electionTicks, 10)
        XCTAssertEqual(cfg.maxRequestBytes, 1_572_864)
        XCTAssertEqual(cfg.maxTxnOps, 128)
        XCTAssertEqual(cfg.quotaBackendBytes, 0)
        XCTAssertEqual(cfg.effectiveQuotaBackendBytes, 2 * 1024 * 1024 * 1024)
        XCTAssertEqual(cfg.maxConcurrentStreams, Int(UInt32.max))
        XCTAssertEqual(cfg.grpcKeepAliveMinTime, .seconds(5))
        XCTAssertEqual(cfg.grpcKeepAliveInterval, .seconds(7200))
        XCTAssertEqual(cfg.grpcKeepAliveTimeout, .seconds(20))
        XCTAssertEqual(cfg.logging.logger, "capnslog")
        XCTAssertEqual(cfg.logging.level, "info")
        XCTAssertEqual(cfg.logging.outputs, ["default"])
        XCTAssertFalse(cfg.enableV2)
        XCTAssertTrue(cfg.strictReconfigCheck)
        XCTAssertTrue(cfg.enableGRPCGateway)
        XCTAssertEqual(cfg.autoCompactionMode, "periodic")
        XCTAssertEqual(cfg.autoCompactionRetention, "0")
        XCTAssertEqual(cfg.authToken, "simple")
        XCTAssertEqual(cfg.bcryptCost, 10)
        XCTAssertEqual(cfg.cors, ["*"])
        XCTAssertEqual(cfg.hostWhitelist, ["*"])
        XCTAssertEqual(cfg.experimental.warningApplyDuration, .milliseconds(100))
        XCTAssertEqual(cfg.proxy.mode, "off")
        XCTAssertEqual(cfg.source, .commandLine)
        XCTAssertEqual(cfg.givenFlags, [:])
        XCTAssertEqual(cfg.unsupported, [])
        XCTAssertTrue(cfg.has(.warning, "'data-dir' was empty; using default"))
        XCTAssertTrue(cfg.has(.warning, "[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead"))
    }

    func testEveryNameValueForm() throws {
        for args in [["--name", "infra1"], ["--name=infra1"], ["-name", "infra1"], ["-name=infra1"]] {
            let cfg = try XCTUnwrap(runConfig(args), "\(args)")
            XCTAssertEqual(cfg.name, "infra1", "\(args)")
            XCTAssertEqual(cfg.dataDir, "infra1.etcd", "\(args)")
            XCTAssertEqual(cfg.initialCluster, "infra1=http://localhost:2380", "\(args)")
            XCTAssertEqual(cfg.givenFlags, ["name": "infra1"], "\(args)")
        }
    }

    func testValueMayStartWithDashAndBeEmpty() throws {
        XCTAssertEqual(runConfig(["--data-dir", "--weird"])?.dataDir, "--weird")
        XCTAssertEqual(runConfig(["--wal-dir="])?.walDir, "")
    }

    func testBooleanForms() throws {
        XCTAssertEqual(runConfig(["--enable-v2"])?.enableV2, true)
        XCTAssertEqual(runConfig(["-enable-v2=true"])?.enableV2, true)
        XCTAssertEqual(runConfig(["--enable-v2=false"])?.enableV2, false)
        XCTAssertEqual(runConfig(["--strict-reconfig-check=0"])?.strictReconfigCheck, false)
        XCTAssertEqual(runConfig(["--strict-reconfig-check=F"])?.strictReconfigCheck, false)
        // A boolean never takes the next argument, which is then a positional argument.
        assertError(["--enable-v2", "false"], "'false' is not a valid flag", kind: .verify, exit: 1)
        assertError(["--enable-v2=maybe"], "invalid boolean value \"maybe\" for -enable-v2: parse error",
                    kind: .usage, exit: 2)
    }

    func testDoubleDashEndsFlags() throws {
        XCTAssertEqual(runConfig(["--name", "a", "--"])?.name, "a")
        assertError(["--name", "a", "--", "--name", "b"], "'--name' is not a valid flag", kind: .verify, exit: 1)
        assertError(["--name", "a", "b"], "'b' is not a valid flag", kind: .verify, exit: 1)
        assertError(["-"], "'-' is not a valid flag", kind: .verify, exit: 1)
    }

    func testUnknownFlagIsUsageErrorWithExitTwo() {
        assertError(["--foo"], "flag provided but not defined: -foo", kind: .usage, exit: 2)
        assertError(["-foo=1"], "flag provided but not defined: -foo", kind: .usage, exit: 2)
        assertError(["--name", "x", "--listen-client-url", "y"], "flag provided but not defined: -listen-client-url",
                    kind: .usage, exit: 2)
        XCTAssertTrue(ConfigParser.usage.hasPrefix("Usage:\n\n  etcd [flags]\n"))
    }

    func testFlagSyntaxErrors() {
        assertError(["--name"], "flag needs an argument: -name", kind: .usage, exit: 2)
        assertError(["---name"], "bad flag syntax: ---name", kind: .usage, exit: 2)
        assertError(["-=x"], "bad flag syntax: -=x", kind: .usage, exit: 2)
    }

    func testBadValuesUseGoMessages() {
        assertError(["--snapshot-count", "abc"], "invalid value \"abc\" for flag -snapshot-count: parse error",
                    kind: .usage, exit: 2)
        assertError(["--snapshot-count=-1"], "invalid value \"-1\" for flag -snapshot-count: parse error",
                    kind: .usage, exit: 2)
        assertError(["--max-txn-ops", "99999999999999999999"],
                    "invalid value \"99999999999999999999\" for flag -max-txn-ops: value out of range",
                    kind: .usage, exit: 2)
        assertError(["--initial-cluster-state", "foo"],
                    "invalid value \"foo\" for flag -initial-cluster-state: invalid value", kind: .usage, exit: 2)
        assertError(["--max-concurrent-streams", "x"],
                    "invalid value \"x\" for flag -max-concurrent-streams: strconv.ParseUint: parsing \"x\": invalid syntax",
                    kind: .usage, exit: 2)
        assertError(["--grpc-keepalive-timeout", "10"],
                    "invalid value \"10\" for flag -grpc-keepalive-timeout: parse error", kind: .usage, exit: 2)
        assertError(["--listen-client-urls", "http://127.0.0.1"],
                    "invalid value \"http://127.0.0.1\" for flag -listen-client-urls: URL address does not have the form \"host:port\": http://127.0.0.1",
                    kind: .usage, exit: 2)
        assertError(["--listen-client-urls", "ftp://127.0.0.1:1"],
                    "invalid value \"ftp://127.0.0.1:1\" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: ftp://127.0.0.1:1",
                    kind: .usage, exit: 2)
        assertError(["--listen-client-urls", "http://127.0.0.1:1/x"],
                    "invalid value \"http://127.0.0.1:1/x\" for flag -listen-client-urls: URL must not contain a path: http://127.0.0.1:1/x",
                    kind: .usage, exit: 2)
        assertError(["--cors", "http://a:1,*"],
                    "invalid value \"http://a:1,*\" for flag -cors: URL scheme must be http, https, unix, or unixs: *",
                    kind: .usage, exit: 2)
        assertError(["--listen-peer-urls", "127.0.0.1:2380"],
                    "invalid value \"127.0.0.1:2380\" for flag -listen-peer-urls: parse \"127.0.0.1:2380\": first path segment in URL cannot contain colon",
                    kind: .usage, exit: 2)
    }

    func testNumbersAndDurationsFollowGoSyntax() throws {
        XCTAssertEqual(runConfig(["--snapshot-count", "0x10"])?.snapshotCount, 16)
        XCTAssertEqual(runConfig(["--snapshot-count", "1_000"])?.snapshotCount, 1000)
        XCTAssertEqual(runConfig(["--max-snapshots", "010"])?.maxSnapshots, 8)
        XCTAssertEqual(runConfig(["--quota-backend-bytes", "-1"])?.quotaBackendBytes, -1)
        XCTAssertEqual(runConfig(["--quota-backend-bytes=8589934592"])?.quotaBackendBytes, 8_589_934_592)
        XCTAssertEqual(runConfig(["--grpc-keepalive-min-time", "1m30s"])?.grpcKeepAliveMinTime, .seconds(90))
        XCTAssertEqual(runConfig(["--backend-batch-interval", "1.5ms"])?.backendBatchInterval, .microseconds(1500))
        XCTAssertEqual(runConfig(["--experimental-corrupt-check-time", "0"])?.experimental.corruptCheckTime, .zero)
        assertError(["--snapshot-count", "1__0"], "invalid value \"1__0\" for flag -snapshot-count: parse error",
                    kind: .usage, exit: 2)
    }

    func testQuotingFollowsGo() {
        // fmt's %q and encoding/json differ: \x escapes against \u escapes, HTML-safe JSON.
        XCTAssertEqual(GoSyntax.quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\x01\"")
        XCTAssertEqual(GoSyntax.quote(["x", "y z"]), "[\"x\" \"y z\"]")
        XCTAssertEqual(GoSyntax.jsonString("<a&b>\u{1}\t"), "\"\\u003ca\\u0026b\\u003e\\u0001\\t\"")
        XCTAssertEqual(GoSyntax.parseDuration("1h30m"), 5_400_000_000_000)
        XCTAssertEqual(GoSyntax.parseDuration("1.5s"), 1_500_000_000)
        XCTAssertNil(GoSyntax.parseDuration("5"))
    }

    func testURLListsAreParsedAndSorted() throws {
        let cfg = try XCTUnwrap(runConfig([
            "--listen-client-urls", "http://127.0.0.1:23791, http://127.0.0.1:23790",
            "--advertise-client-urls", "https://[::1]:23790",
            "--listen-peer-urls", "unix://localhost:1",
        ]))
        XCTAssertEqual(cfg.listenClient, ["http://127.0.0.1:23790", "http://127.0.0.1:23791"])
        XCTAssertEqual(cfg.listenClientURLs.map(\.port), [23790, 23791])
        XCTAssertEqual(cfg.advertiseClientURLs[0].host, "::1")
        XCTAssertEqual(cfg.advertiseClientURLs[0].hostPort, "[::1]:23790")
        XCTAssertEqual(cfg.advertiseClientURLs[0].scheme, "https")
        XCTAssertEqual(cfg.listenPeerURLs[0].scheme, "unix")
        // The advertised peer URLs keep their default, and the initial cluster follows them.
        XCTAssertEqual(cfg.initialCluster, "default=http://localhost:2380")
    }

    func testHelpAndVersion() throws {
        for args in [["-h"], ["--help"], ["-help=1"], ["--h"], ["-h", "--foo"], ["--name", "x", "--help"]] {
            guard case .help(let text) = try ConfigParser.parse(arguments: args, environment: [:]) else {
                return XCTFail("\(args) should ask for help")
            }
            XCTAssertTrue(text.contains("  --name 'default'\n"), "\(args)")
            XCTAssertTrue(text.contains("  --data-dir '${name}.etcd'\n"))
            XCTAssertTrue(text.contains("  --listen-client-urls 'http://localhost:2379'\n"))
            XCTAssertTrue(text.contains("  --max-request-bytes '1572864'\n"))
            XCTAssertTrue(text.contains("  --unsafe-no-fsync 'false'\n"))
            XCTAssertTrue(text.contains("  --experimental-enable-lease-checkpoint 'false'\n"))
        }
        assertError(["--foo", "-h"], "flag provided but not defined: -foo", kind: .usage, exit: 2)
        guard case .version(let v) = try ConfigParser.parse(arguments: ["--version"], environment: ["ETCD_NAME": "x"])
        else { return XCTFail("expected version") }
        let lines = v.split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        XCTAssertEqual(lines[0], "etcd Version: \(BuildInfo.etcdVersion)")
        XCTAssertTrue(lines[1].hasPrefix("Git SHA: "))
        XCTAssertTrue(lines[2].hasPrefix("Go Version: "))
        XCTAssertTrue(lines[3].hasPrefix("Go OS/Arch: "))
        assertError(["--version", "x"], "'x' is not a valid flag", kind: .verify, exit: 1)
        XCTAssertEqual(runConfig(["--version=false"])?.name, "default")
    }

    func testIgnoredLegacyFlagsWarnAndTakeNoValue() throws {
        let cfg = try XCTUnwrap(runConfig(["-v", "--snapshot", "--name", "n"]))
        XCTAssertEqual(cfg.name, "n")
        XCTAssertTrue(cfg.has(.warning, "flag \"-v\" is no longer supported - ignoring."))
        XCTAssertTrue(cfg.has(.warning, "flag \"-snapshot\" is no longer supported - ignoring."))
        XCTAssertEqual(cfg.unsupported, [])
    }

    func testUnsupportedFlagsAreListed() throws {
        XCTAssertEqual(runConfig(["--enable-v2"])?.unsupported, ["enable-v2"])
        XCTAssertEqual(runConfig(["--enable-v2=false", "--proxy", "off", "--auto-compaction-retention=0"])?.unsupported, [])
        let cfg = try XCTUnwrap(runConfig(["--auto-tls", "--metrics", "extensive", "--name", "x",
                                           "--max-txn-ops", "64", "--pre-vote", "--max-wals", "3", "--enable-v2"]))
        XCTAssertEqual(cfg.unsupported, ["enable-v2"])
        XCTAssertTrue(cfg.preVote)
        XCTAssertEqual(cfg.metrics, "extensive")
        XCTAssertEqual(cfg.maxTxnOps, 64)
        let custom = try XCTUnwrap(runConfig(["--pre-vote", "--name", "x"], supported: ["pre-vote"]))
        XCTAssertEqual(custom.unsupported, ["name"])
    }

    func testEveryEtcdFlagIsAccepted() throws {
        let boolFlags = ["initial-election-tick-advance", "strict-reconfig-check", "enable-v2", "pre-vote",
                         "client-cert-auth", "auto-tls", "peer-client-cert-auth", "peer-auto-tls",
                         "experimental-peer-skip-client-san-verification", "debug", "enable-pprof",
                         "enable-grpc-gateway", "experimental-initial-corrupt-check",
                         "experimental-enable-lease-checkpoint", "unsafe-no-fsync", "force-new-cluster"]
        let valued: [(String, String)] = [
            ("wal-dir", "/tmp/w"), ("max-snapshots", "3"), ("max-wals", "3"), ("backend-batch-interval", "10ms"),
            ("backend-batch-limit", "100"), ("grpc-keepalive-interval", "1h"), ("listen-metrics-urls", "http://127.0.0.1:2381"),
            ("initial-cluster-token", "t"), ("discovery-fallback", "exit"), ("discovery-proxy", "p"),
            ("proxy-failure-wait", "1"), ("proxy-refresh-interval", "1"), ("proxy-dial-timeout", "1"),
            ("proxy-write-timeout", "1"), ("proxy-read-timeout", "1"), ("cert-file", "c"), ("key-file", "k"),
            ("client-crl-file", "x"), ("client-cert-allowed-hostname", "h"), ("trusted-ca-file", "ca"),
            ("peer-cert-file", "c"), ("peer-key-file", "k"), ("peer-trusted-ca-file", "ca"), ("peer-crl-file", "x"),
            ("peer-cert-allowed-cn", "cn"), ("peer-cert-allowed-hostname", "h"), ("cipher-suites", "A,B"),
            ("cors", "http://a.example:1"), ("host-whitelist", "a,b"), ("log-package-levels", "etcdmain=INFO"),
            ("auth-token", "jwt"), ("bcrypt-cost", "11"), ("auth-token-ttl", "10"),
            ("experimental-corrupt-check-time", "1m"), ("experimental-enable-v2v3", "/v2"),
            ("experimental-backend-bbolt-freelist-type", "map"), ("experimental-compaction-batch-limit", "5"),
            ("experimental-watch-progress-notify-interval", "5s"), ("experimental-warning-apply-duration", "1s"),
            ("auto-compaction-mode", "revision"), ("auto-compaction-retention", "100"),
        ]
        var args = boolFlags.map { "--\($0)" }
        for (k, v) in valued { args += ["--\(k)", v] }
        let cfg = try XCTUnwrap(runConfig(args + ["--experimental-enable-lease-checkpoint-persist"]))
        XCTAssertEqual(cfg.clientTLS.certFile, "c")
        XCTAssertTrue(cfg.peerTLS.skipClientSANVerify)
        XCTAssertEqual(cfg.cipherSuites, ["A", "B"])
        XCTAssertEqual(cfg.cors, ["http://a.example:1"])
        XCTAssertEqual(cfg.hostWhitelist, ["a", "b"])
        XCTAssertEqual(cfg.proxy.discoveryFallback, "exit")
        XCTAssertEqual(cfg.listenMetricsURLs.map(\.description), ["http://127.0.0.1:2381"])
        XCTAssertEqual(try cfg.autoCompactionRetentionValue(), .revisions(100))
        XCTAssertTrue(cfg.unsafeNoFsync)
        XCTAssertTrue(cfg.forceNewCluster)
        XCTAssertEqual(cfg.experimental.compactionBatchLimit, 5)
        XCTAssertEqual(Set(cfg.givenFlags.keys).count, boolFlags.count + valued.count + 1)
    }

    func testAutoCompactionRetention() throws {
        XCTAssertEqual(try runConfig(["--auto-compaction-retention", "1"])?.autoCompactionRetentionValue(),
                       .period(.seconds(3600)))
        XCTAssertEqual(try runConfig(["--auto-compaction-retention", "5m"])?.autoCompactionRetentionValue(),
                       .period(.seconds(300)))
        let bad = try XCTUnwrap(runConfig(["--auto-compaction-retention", "soon"]))
        XCTAssertThrowsError(try bad.autoCompactionRetentionValue())
    }
}
