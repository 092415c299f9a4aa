import Config
import XCTest

final class ConfigFileTests: XCTestCase {
    private let files = TempFiles()
    override func tearDown() { files.removeAll() }

    private let systemdStyle = """
        # /etc/etcd/etcd.conf.yml as a systemd unit would pass it
        name: infra0
        data-dir: /var/lib/etcd/infra0
        listen-client-urls: http://127.0.0.1:2379,http://10.0.1.10:2379
        advertise-client-urls: http://10.0.1.10:2379
        listen-peer-urls: http://10.0.1.10:2380
        initial-advertise-peer-urls: http://10.0.1.10:2380
        initial-cluster: infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380,infra2=http://10.0.1.12:2380
        initial-cluster-token: etcd-cluster-1
        initial-cluster-state: new
        """

    func testSystemdStyleFile() throws {
        let path = files.yaml(systemdStyle)
        let cfg = try XCTUnwrap(runConfig(["--config-file", path]))
        XCTAssertEqual(cfg.source, .configFile(path: path))
        XCTAssertEqual(cfg.name, "infra0")
        XCTAssertEqual(cfg.dataDir, "/var/lib/etcd/infra0")
        XCTAssertEqual(cfg.listenClient, ["http://10.0.1.10:2379", "http://127.0.0.1:2379"])
        XCTAssertEqual(cfg.advertiseClient, ["http://10.0.1.10:2379"])
        XCTAssertEqual(cfg.listenPeer, ["http://10.0.1.10:2380"])
        XCTAssertEqual(cfg.advertisePeer, ["http://10.0.1.10:2380"])
        XCTAssertEqual(cfg.initialClusterToken, "etcd-cluster-1")
        XCTAssertEqual(cfg.initialClusterState, "new")
        let members = try cfg.initialClusterMembers()
        XCTAssertEqual(members.keys.sorted(), ["infra0", "infra1", "infra2"])
        XCTAssertEqual(members["infra1"]?.first?.port, 2380)
        XCTAssertNoThrow(try cfg.verifyBootstrap())
        XCTAssertEqual(cfg.unsupported, [])
        XCTAssertEqual(cfg.givenFlags["initial-cluster-token"], "etcd-cluster-1")
        // Defaults of embed.NewConfig for what the file leaves out.
        XCTAssertEqual(cfg.snapshotCount, 100_000)
        XCTAssertEqual(cfg.maxRequestBytes, 1_572_864)
        XCTAssertEqual(cfg.autoCompactionMode, "")
        XCTAssertFalse(cfg.enableGRPCGateway)
    }

    func testFileReplacesFlagsAndEnvironment() throws {
        let path = files.yaml("name: fromfile\nheartbeat-interval: 50\n")
        let cfg = try XCTUnwrap(runConfig(["--name", "fromflag", "--snapshot-count", "7", "--config-file=\(path)"],
                                          env: ["ETCD_DATA_DIR": "/env", "ETCD_FOO": "x"]))
        XCTAssertEqual(cfg.name, "fromfile")
        XCTAssertEqual(cfg.heartbeatIntervalMs, 50)
        XCTAssertEqual(cfg.snapshotCount, 100_000)
        XCTAssertEqual(cfg.dataDir, "fromfile.etcd")
        XCTAssertEqual(cfg.initialCluster, "fromfile=http://localhost:2380")
        XCTAssertFalse(cfg.messages.contains { $0.text.contains("ETCD_FOO") })
        XCTAssertEqual(cfg.givenFlags, ["name": "fromfile", "heartbeat-interval": "50"])
        XCTAssertTrue(cfg.has(.info, "loaded server configuration, other configuration command line flags and environment variables will be ignored if provided"))
    }

    func testConfigFileFromEnvironment() throws {
        let path = files.yaml("name: envfile\n")
        let cfg = try XCTUnwrap(runConfig(["--name", "ignored"], env: ["ETCD_CONFIG_FILE": path, "ETCD_NAME": "x"]))
        XCTAssertEqual(cfg.name, "envfile")
    }

    func testKeysMatchCaseInsensitivelyAndUnknownKeysAreIgnored() throws {
        let path = files.yaml("Name: a\nbogus-key: 1\ncert-file: /top/level/is/not/a/key\nmax-txn-ops: ~\n")
        let cfg = try XCTUnwrap(runConfig(["--config-file", path]))
        XCTAssertEqual(cfg.name, "a")
        XCTAssertEqual(cfg.clientTLS.certFile, "")
        XCTAssertEqual(cfg.maxTxnOps, 128)
    }

    func testTypedValues() throws {
        let path = files.yaml("""
            enable-v2: yes
            quota-backend-bytes: 8589934592
            grpc-keepalive-min-time: 1000000000
            log-outputs: [stderr]
            logger: zap
            log-level: debug
            cors: http://a.example:1
            client-transport-security:
              cert-file: /c.pem
              key-file: /k.pem
              client-cert-auth: true
              trusted-ca-file: /ca.pem
            peer-transport-security:
              auto-tls: true
            proxy-dial-timeout: 3
            """)
        let cfg = try XCTUnwrap(runConfig(["--config-file", path]))
        XCTAssertTrue(cfg.enableV2)
        XCTAssertEqual(cfg.quotaBackendBytes, 8_589_934_592)
        XCTAssertEqual(cfg.grpcKeepAliveMinTime, .seconds(1))
        XCTAssertEqual(cfg.logging.outputs, ["stderr"])
        XCTAssertEqual(cfg.logging.logger, "zap")
        XCTAssertEqual(cfg.cors, ["http://a.example:1"])
        XCTAssertEqual(cfg.clientTLS.certFile, "/c.pem")
        XCTAssertTrue(cfg.clientTLS.clientCertAuth)
        XCTAssertEqual(cfg.clientTLS.trustedCAFile, "/ca.pem")
        XCTAssertTrue(cfg.peerTLS.autoTLS)
        XCTAssertEqual(cfg.proxy.dialTimeoutMs, 3)
        // The TLS keys are implemented, so only the others are listed.
        XCTAssertEqual(cfg.unsupported, ["enable-v2", "proxy-dial-timeout"])
    }

    func testTypeErrorsUseGoJSONMessages() {
        let prefix = "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
        let cases: [(String, String)] = [
            ("name: 123\n", "number into Go struct field configYAML.name of type string"),
            ("snapshot-count: \"abc\"\n", "string into Go struct field configYAML.snapshot-count of type uint64"),
            ("heartbeat-interval: [1]\n", "array into Go struct field configYAML.heartbeat-interval of type uint"),
            ("heartbeat-interval: -1\n", "number -1 into Go struct field configYAML.heartbeat-interval of type uint"),
            ("grpc-keepalive-min-time: 5s\n",
             "string into Go struct field configYAML.grpc-keepalive-min-time of type time.Duration"),
            ("strict-reconfig-check: \"true\"\n",
             "string into Go struct field configYAML.strict-reconfig-check of type bool"),
            ("log-outputs: stderr\n", "string into Go struct field configYAML.log-outputs of type []string"),
            ("client-transport-security:\n  client-cert-auth: 1\n",
             "number into Go struct field configYAML.client-transport-security.client-cert-auth of type bool"),
            ("proxy-dial-timeout: x\n", "string into Go struct field configProxy.proxy-dial-timeout of type uint"),
            ("- a\n- b\n", "array into Go value of type embed.configYAML"),
        ]
        for (yaml, tail) in cases {
            let path = files.yaml(yaml)
            assertError(["--config-file", path], prefix + tail, kind: .verify, exit: 1)
        }
    }

    func testFileErrors() {
        let missing = "/nonexistent/etcd-swift-test.yml"
        assertError(["--config-file", missing], "open \(missing): no such file or directory", kind: .verify, exit: 1)
        assertError(["--config-file", files.yaml("listen-client-urls: http://127.0.0.1\n")],
                    "unexpected error setting up listen-client-urls: URL address does not have the form \"host:port\": http://127.0.0.1",
                    kind: .fatal, exit: 1)
        assertError(["--config-file", files.yaml("initial-cluster-state: bogus\n")],
                    "unexpected clusterState \"bogus\"", kind: .verify, exit: 1)
        assertError(["--config-file", files.yaml("proxy: bogus\n")],
                    "unexpected error setting up proxyFlag: invalid value", kind: .fatal, exit: 1)
        assertError(["--config-file", files.yaml("heartbeat-interval: 300\n")],
                    "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]",
                    kind: .verify, exit: 1)
        guard let e = configError(["--config-file", files.yaml(": : :\n  - x\n")]) else { return }
        XCTAssertTrue(e.message.hasPrefix("error converting YAML to JSON: yaml: "), e.message)
    }

    func testFileListenWithoutAdvertiseKeepsDefaultAdvertise() throws {
        // Unlike the flags, etcd's file path keeps the default advertise URL.
        let cfg = try XCTUnwrap(runConfig(["--config-file", files.yaml("listen-client-urls: http://127.0.0.1:1\n")]))
        XCTAssertEqual(cfg.advertiseClient, ["http://localhost:2379"])
    }

    func testEmptyFileGivesDefaults() throws {
        let cfg = try XCTUnwrap(runConfig(["--config-file", files.yaml("")]))
        XCTAssertEqual(cfg.name, "default")
        XCTAssertEqual(cfg.dataDir, "default.etcd")
        XCTAssertEqual(cfg.initialClusterState, "new")
    }

    func testDiscoveryInFileClearsDefaultCluster() throws {
        let cfg = try XCTUnwrap(runConfig(["--config-file", files.yaml("discovery: https://d.example/x\n")]))
        XCTAssertEqual(cfg.initialCluster, "")
        XCTAssertEqual(try cfg.initialClusterMembers()["default"]?.map(\.description), ["http://localhost:2380"])
        XCTAssertEqual(cfg.effectiveClusterToken, "https://d.example/x")
    }
}
