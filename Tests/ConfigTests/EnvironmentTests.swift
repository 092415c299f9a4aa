import Config
import XCTest

final class EnvironmentTests: XCTestCase {
    func testEnvironmentFillsFlagsNotGiven() throws {
        let cfg = try XCTUnwrap(runConfig(["--name", "n1"], env: [
            "ETCD_DATA_DIR": "/var/lib/etcd", "ETCD_INITIAL_CLUSTER": "n1=http://localhost:2380",
            "ETCD_SNAPSHOT_COUNT": "5000", "ETCD_ENABLE_V2": "true", "PATH": "/bin",
        ]))
        XCTAssertEqual(cfg.name, "n1")
        XCTAssertEqual(cfg.dataDir, "/var/lib/etcd")
        XCTAssertEqual(cfg.snapshotCount, 5000)
        XCTAssertTrue(cfg.enableV2)
        XCTAssertEqual(cfg.givenFlags["data-dir"], "/var/lib/etcd")
        XCTAssertEqual(cfg.unsupported, ["enable-v2"])
        XCTAssertTrue(cfg.has(.info, "recognized and used environment variable ETCD_DATA_DIR=/var/lib/etcd"))
        XCTAssertFalse(cfg.messages.contains { $0.text.contains("PATH") })
    }

    func testFlagAndVariableForTheSameSettingIsFatalAsInEtcd() {
        // etcd 3.4 does not let the flag silently win: it stops (pkg/flags verifyEnv).
        let message = "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding command-line "
            + "flag (either unset environment variable or disable flag)"
        assertError(["--name", "y"], env: ["ETCD_NAME": "x"], message, kind: .fatal, exit: 1)
        assertError(["--name=y"], env: ["ETCD_NAME": ""], message, kind: .fatal, exit: 1)
    }

    func testUnrecognizedVariablesWarn() throws {
        let cfg = try XCTUnwrap(runConfig([], env: ["ETCD_FOO": "bar", "ETCD_NAME": "", "ETCDCTL_API": "3"]))
        XCTAssertTrue(cfg.has(.warning, "unrecognized environment variable ETCD_FOO=bar"))
        // An empty variable is not used, so it is reported as unrecognized, as etcd does.
        XCTAssertTrue(cfg.has(.warning, "unrecognized environment variable ETCD_NAME="))
        XCTAssertFalse(cfg.messages.contains { $0.text.contains("ETCDCTL_API") })
        XCTAssertEqual(cfg.name, "default")
    }

    func testBadVariableValue() {
        assertError([], env: ["ETCD_SNAPSHOT_COUNT": "abc"],
                    "invalid value \"abc\" for ETCD_SNAPSHOT_COUNT: parse error", kind: .verify, exit: 1)
        assertError([], env: ["ETCD_INITIAL_CLUSTER_STATE": "old"],
                    "invalid value \"old\" for ETCD_INITIAL_CLUSTER_STATE: invalid value", kind: .verify, exit: 1)
    }

    func testVariableCountsAsSetFlag() {
        // ETCD_LISTEN_CLIENT_URLS marks the flag set, so the advertise URLs become required.
        assertError([], env: ["ETCD_LISTEN_CLIENT_URLS": "http://127.0.0.1:2379"],
                    ConfigError.unsetAdvertiseClientURLs, kind: .verify, exit: 1)
        let cfg = runConfig([], env: ["ETCD_LISTEN_CLIENT_URLS": "http://127.0.0.1:2379",
                                      "ETCD_ADVERTISE_CLIENT_URLS": "http://127.0.0.1:2379"])
        XCTAssertEqual(cfg?.listenClient, ["http://127.0.0.1:2379"])
    }

    func testNameFromEnvironmentDrivesDefaults() throws {
        let cfg = try XCTUnwrap(runConfig([], env: ["ETCD_NAME": "e1"]))
        XCTAssertEqual(cfg.dataDir, "e1.etcd")
        XCTAssertEqual(cfg.initialCluster, "e1=http://localhost:2380")
    }

    func testVersionFlagIgnoresEnvironment() throws {
        guard case .version = try ConfigParser.parse(arguments: ["-version"], environment: ["ETCD_SNAPSHOT_COUNT": "x"])
        else { return XCTFail("expected version") }
    }
}
