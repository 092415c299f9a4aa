import Config
import XCTest

final class ValidationTests: XCTestCase {
    func testListenClientWithoutAdvertise() {
        assertError(["--listen-client-urls", "http://127.0.0.1:23790"], ConfigError.unsetAdvertiseClientURLs,
                    kind: .verify, exit: 1)
        // etcd lets the v2 proxy go without advertise URLs.
        XCTAssertNotNil(runConfig(["--listen-client-urls", "http://127.0.0.1:23790", "--proxy", "on"]))
        let e = configError(["--listen-client-urls", "http://127.0.0.1:23790"])
        XCTAssertEqual(e?.verifyingLine, "error verifying flags, --advertise-client-urls is required when "
            + "--listen-client-urls is set explicitly. See 'etcd --help'.")
    }

    func testTimingChecks() {
        assertError(["--heartbeat-interval", "300"],
                    "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]",
                    kind: .verify, exit: 1)
        assertError(["--heartbeat-interval", "0"], "--heartbeat-interval must be >0 (set to 0ms)", kind: .verify, exit: 1)
        assertError(["--election-timeout", "0"], "--election-timeout must be >0 (set to 0ms)", kind: .verify, exit: 1)
        assertError(["--election-timeout", "60000"],
                    "--election-timeout[60000ms] is too long, and should be set less than 50000ms", kind: .verify, exit: 1)
    }

    func testBindAndHostChecks() {
        assertError(["--listen-client-urls", "http://foo:1", "--advertise-client-urls", "http://foo:1"],
                    "expected IP in URL for binding (http://foo:1)", kind: .verify, exit: 1)
        assertError(["--listen-peer-urls", "http://01.2.3.4:1"], "expected IP in URL for binding (http://01.2.3.4:1)",
                    kind: .verify, exit: 1)
        XCTAssertNotNil(runConfig(["--listen-peer-urls", "http://[::]:2380,http://0.0.0.0:2381"]))
        assertError(["--initial-advertise-peer-urls", "http://:2380"],
                    "--initial-advertise-peer-urls \"http://:2380\" must be \"host:port\" (unexpected empty host (http://:2380))",
                    kind: .verify, exit: 1)
    }

    func testBootstrapConflicts() throws {
        assertError(["--discovery", "https://d.example/x", "--initial-cluster", "default=http://localhost:2380"],
                    ConfigError.conflictBootstrapFlags, kind: .verify, exit: 1)
        let cfg = try XCTUnwrap(runConfig(["--discovery", "https://d.example/x"]))
        XCTAssertEqual(cfg.initialCluster, "")
    }

    func testOtherChecks() {
        assertError(["--auto-compaction-mode", "daily"], "unknown auto-compaction-mode \"daily\"", kind: .verify, exit: 1)
        assertError(["--experimental-enable-lease-checkpoint-persist"],
                    "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint",
                    kind: .verify, exit: 1)
    }

    func testLoggingChecks() throws {
        assertError(["--log-level", "bogus"], "unknown level \"bogus\"", kind: .fatal, exit: 2)
        assertError(["--logger", "zap", "--log-level", "loud"], "unknown level \"loud\"", kind: .fatal, exit: 2)
        assertError(["--logger", "zap", "--log-outputs", "stderr,default"],
                    "multi logoutput for \"default\" is not supported yet", kind: .verify, exit: 1)
        assertError(["--log-outputs", "stderr,stdout"],
                    "--logger=capnslog supports only 1 value in '--log-outputs', got [\"stderr\" \"stdout\"]",
                    kind: .verify, exit: 1)
        assertError(["--logger", "logrus"], "unknown logger option \"logrus\"", kind: .verify, exit: 1)
        assertError(["--log-outputs", "/tmp/x.log"],
                    "unknown log-output \"/tmp/x.log\" (only supports \"default\", \"stderr\", \"stdout\")",
                    kind: .verify, exit: 1)
        let zap = try XCTUnwrap(runConfig(["--logger=zap", "--log-outputs", "stdout,stderr", "--log-level", "warn"]))
        XCTAssertEqual(zap.logging.outputs, ["stderr", "stdout"])
        XCTAssertEqual(zap.logging.level, "warn")
        XCTAssertFalse(zap.messages.contains { $0.text.contains("capnslog") })
    }

    func testVerifyBootstrap() throws {
        XCTAssertNoThrow(try XCTUnwrap(runConfig([])).verifyBootstrap())
        XCTAssertNoThrow(try XCTUnwrap(runConfig(["--name", "foo"])).verifyBootstrap())
        // etcd resolves localhost; an IP of it matches the default advertise URL.
        XCTAssertNoThrow(try XCTUnwrap(runConfig(["--initial-cluster", "default=http://127.0.0.1:2380"])).verifyBootstrap())

        func bootstrapError(_ args: [String]) throws -> String? {
            do {
                try XCTUnwrap(runConfig(args)).verifyBootstrap()
                return nil
            } catch let e as ConfigError {
                return e.message
            }
        }
        XCTAssertEqual(try bootstrapError(["--name", "foo", "--initial-cluster", "bar=http://localhost:2380"]),
                       "couldn't find local name \"foo\" in the initial cluster configuration")
        XCTAssertEqual(try bootstrapError(["--initial-advertise-peer-urls", "http://127.0.0.1:23800",
                                           "--initial-cluster", "default=http://10.0.0.1:23800"]),
                       "--initial-cluster has default=http://10.0.0.1:23800 but missing from "
                        + "--initial-advertise-peer-urls=http://127.0.0.1:23800 "
                        + "(resolved urls: \"http://127.0.0.1:23800\" != \"http://10.0.0.1:23800\")")
        XCTAssertEqual(try bootstrapError(["--initial-advertise-peer-urls", "http://127.0.0.1:23800",
                                           "--initial-cluster",
                                           "default=http://127.0.0.1:23800,default=http://127.0.0.1:23801"]),
                       "--initial-cluster has default=http://127.0.0.1:23801 but missing from "
                        + "--initial-advertise-peer-urls=http://127.0.0.1:23800 "
                        + "(len([\"http://127.0.0.1:23800\"]) != len([\"http://127.0.0.1:23800\" \"http://127.0.0.1:23801\"]))")
        XCTAssertEqual(try bootstrapError(["--initial-advertise-peer-urls", "http://127.0.0.1:23800",
                                           "--initial-cluster", "default=http://127.0.0.1:23800,b=http://127.0.0.1:23800"]),
                       "initial cluster b=http://127.0.0.1:23800,default=http://127.0.0.1:23800 has duplicate url")
        XCTAssertEqual(try bootstrapError(["--initial-cluster", "default=localhost:2380"]),
                       "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: localhost:2380")
    }

    func testVerifyJoinExisting() throws {
        let cfg = try XCTUnwrap(runConfig(["--initial-cluster-state", "existing", "--name", "m2",
                                           "--initial-cluster", "m1=http://10.0.0.1:2380,m2=http://localhost:2380"]))
        XCTAssertFalse(cfg.isNewCluster)
        XCTAssertNoThrow(try cfg.verifyJoinExisting())
    }
}

final class DefaultHostTests: XCTestCase {
    private func parse(_ args: [String], host: String?) throws -> ServerConfig {
        guard case .run(let cfg) = try ConfigParser.parse(arguments: args, environment: [:], defaultHost: host) else {
            throw ConfigError(kind: .verify, message: "not run")
        }
        return cfg
    }

    func testWildcardListenerAdvertisesDefaultHost() throws {
        let cfg = try parse(["--name", "n", "--listen-peer-urls", "http://0.0.0.0:2390"], host: "10.1.2.3")
        XCTAssertEqual(cfg.advertisePeer, ["http://10.1.2.3:2390"])
        XCTAssertEqual(cfg.initialCluster, "n=http://10.1.2.3:2390")
        XCTAssertTrue(cfg.has(.info, "detected default host for advertise"))
        // A config file keeps the default client advertise URL, so it too takes the host.
        let files = TempFiles()
        defer { files.removeAll() }
        let path = files.yaml("listen-client-urls: http://0.0.0.0:2389\n")
        let fromFile = try parse(["--config-file", path], host: "10.1.2.3")
        XCTAssertEqual(fromFile.advertiseClient, ["http://10.1.2.3:2389"])
        XCTAssertEqual(fromFile.advertisePeer, ["http://localhost:2380"])
    }

    func testNoDefaultHostKeepsLocalhost() throws {
        let cfg = try parse(["--listen-peer-urls", "http://0.0.0.0:2390"], host: nil)
        XCTAssertEqual(cfg.advertisePeer, ["http://localhost:2380"])
        let named = try parse(["--name", "x"], host: "10.1.2.3")
        XCTAssertEqual(named.advertisePeer, ["http://localhost:2380"])
        XCTAssertEqual(named.initialCluster, "x=http://localhost:2380")
    }

    func testDetectionDoesNotCrash() {
        if let host = ConfigParser.detectDefaultHost() { XCTAssertFalse(host.isEmpty) }
    }
}
