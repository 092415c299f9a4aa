import Foundation
import Logging
import NIOCore
import NIOPosix
import Raft
import Synchronization
import XCTest
@testable import Transport

/// Records everything the transport reports.
final class RecordingHandler: PeerHandler, Sendable {
    struct State {
        var messages: [Raft.Message] = []
        var unreachable: [UInt64] = []
        var snapshotReports: [(UInt64, Bool)] = []
        var snapshots: [(Raft.Message, String)] = []
        var removed: Set<UInt64> = []
        var removedReports: [UInt64] = []
        var members = "[]"
        var leaseAnswer = (status: 200, body: [UInt8]([8, 1]))
        var onMessage: (@Sendable (Raft.Message) -> Void)?
        var promoted: [UInt64] = []
        var promoteAnswer = PeerAnswer.json(200, Array("[]\n".utf8))
        var hashKVRequests: [[UInt8]] = []
        var hashKVAnswer = PeerAnswer.json(200, Array(#"{"header":{"revision":1}}"#.utf8))
    }

    let state = Mutex(State())

    func process(_ message: Raft.Message) {
        let hook = state.withLock { s in
            s.messages.append(message)
            return s.onMessage
        }
        hook?(message)
    }

    func isRemoved(_ id: UInt64) -> Bool { state.withLock { $0.removed.contains(id) } }
    func reportUnreachable(_ id: UInt64) { state.withLock { $0.unreachable.append(id) } }
    func reportSnapshot(_ id: UInt64, failed: Bool) { state.withLock { $0.snapshotReports.append((id, failed)) } }
    func receivedSnapshot(_ message: Raft.Message, dbPath: String) { state.withLock { $0.snapshots.append((message, dbPath)) } }
    func membersJSON() -> [UInt8] { Array(state.withLock { $0.members }.utf8) }
    func leaseRequest(path: String, body: [UInt8]) async -> (status: Int, body: [UInt8]) { state.withLock { $0.leaseAnswer } }
    func removedFromCluster(reportedBy peer: UInt64) { state.withLock { $0.removedReports.append(peer) } }
    func promoteMember(id: UInt64) async -> PeerAnswer {
        state.withLock { s in
            s.promoted.append(id)
            return s.promoteAnswer
        }
    }
    func hashKV(requestJSON: [UInt8]) async -> PeerAnswer {
        state.withLock { s in
            s.hashKVRequests.append(requestJSON)
            return s.hashKVAnswer
        }
    }

    var messages: [Raft.Message] { state.withLock { $0.messages } }
}

func testLogger(_ label: String) -> Logger {
    var l = Logger(label: label)
    l.logLevel = ProcessInfo.processInfo.environment["TRANSPORT_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
    return l
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass.
func eventually(_ seconds: Double = 10, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return await condition()
}

func tempDir(_ name: String) -> String {
    let dir = NSTemporaryDirectory() + "transport-tests-\(name)-\(getpid())"
    try? FileManager.default.removeItem(atPath: dir)
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

struct Node {
    let id: UInt64
    let url: String
    let transport: PeerTransport
    let handler: RecordingHandler
    let snapDir: String

    static func start(id: UInt64, port: Int, clusterID: UInt64 = 0x1000, group: any EventLoopGroup,
                      limits: TransportLimits = TransportLimits(), listen: Bool = true,
                      scheme: String = "http", host: String = "127.0.0.1") async throws -> Node {
        let url = "\(scheme)://\(host):\(port)"
        let handler = RecordingHandler()
        let dir = tempDir("\(id)-\(port)")
        let t = PeerTransport(localID: id, clusterID: clusterID, localPeerURLs: [url], snapDir: dir, handler: handler,
                              group: group, logger: testLogger("node-\(id)"), limits: limits)
        if listen { try await t.listen(urls: [url]) }
        return Node(id: id, url: url, transport: t, handler: handler, snapDir: dir)
    }
}
