import Foundation
import Logging

@testable import Server

/// The one-member cluster most server tests start: member "t" advertising
/// http://127.0.0.1:2380 (never listened on: a lone member has no peers), data in `dir`.
enum LoneMember {
    static func options(dir: String) -> ServerOptions {
        var options = ServerOptions()
        options.name = "t"
        options.dataDir = dir
        options.advertisePeerURLs = ["http://127.0.0.1:2380"]
        options.initialCluster = [("t", ["http://127.0.0.1:2380"])]
        return options
    }

    /// Opens the member in `dir` and starts it.
    static func start(dir: String) throws -> ServerNode {
        let node = try ServerNode(options: options(dir: dir), logger: Logger(label: "test"))
        node.start()
        return node
    }

    /// Waits (at most 2 s) until `node` leads; returns whether it does.
    @discardableResult
    static func waitLeader(_ node: ServerNode) async throws -> Bool {
        for _ in 0..<200 where !node.isLeader { try await Task.sleep(for: .milliseconds(10)) }
        return node.isLeader
    }
}
