import XCTest

@testable import Config

/// `etcd gateway start` flags, as etcd's cobra command takes them.
final class GatewayConfigTests: XCTestCase {
    func testDefaultsAndFlagsAroundStart() throws {
        let d = try GatewayConfig.parse(["start"]).get()
        XCTAssertEqual(d.listenAddr, "127.0.0.1:23790")
        XCTAssertEqual(d.endpoints, ["127.0.0.1:2379"])
        XCTAssertEqual(d.retryDelay, .seconds(60))
        let c = try GatewayConfig.parse(["--endpoints=http://a:1,b:2", "start", "--endpoints", "c:3",
                                         "--listen-addr", "0.0.0.0:9", "--retry-delay=1m30s"]).get()
        XCTAssertEqual(c.endpoints, ["a:1", "b:2", "c:3"])
        XCTAssertEqual(c.listenAddr, "0.0.0.0:9")
        XCTAssertEqual(c.retryDelay, .seconds(90))
    }

    func testRefusals() {
        func message(_ args: [String]) -> String? {
            if case .failure(let f) = GatewayConfig.parse(args) { return f.isHelp ? "help" : f.message }
            return nil
        }
        XCTAssertEqual(message([]), "help")
        XCTAssertEqual(message(["start", "--help"]), "help")
        XCTAssertEqual(message(["start", "--bogus"]), "Error: unknown flag: --bogus")
        XCTAssertEqual(message(["start", "--retry-delay", "soon"]),
                       #"Error: invalid argument "soon" for "--retry-delay" flag: time: invalid duration "soon""#)
        XCTAssertEqual(message(["start", "--endpoints", "nohost"]), #"error parsing endpoint "nohost""#)
        XCTAssertEqual(message(["start", "--listen-addr", "x"]), "failed to validate listen address: x")
        XCTAssertEqual(message(["start", "--endpoints", "127.0.0.1:23790"]),
                       "SRV or endpoint (127.0.0.1:23790->127.0.0.1:23790) should not resolve to the gateway listen addr (127.0.0.1:23790)")
        XCTAssertEqual(message(["start", "--endpoints"]), "Error: flag needs an argument: --endpoints")
    }
}
