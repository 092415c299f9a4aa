import Foundation
import Raft
import Synchronization
import Transport

/// Connects the peer transport to this member: validated messages from peers go to the raft
/// driver's queue, the driver's messages go out through the transport, and the peer port's
/// `/members` and `/leases` endpoints are answered from replicated state.
final class PeerBridge: PeerHandler, MessageSender, PeerPoster {
    private weak let node: ServerNode?
    private let transport: Mutex<PeerTransport?> = Mutex(nil)

    init(node: ServerNode) { self.node = node }

    func attach(_ t: PeerTransport) { transport.withLock { $0 = t } }
    private var peers: PeerTransport? { transport.withLock { $0 } }

    // MARK: MessageSender (driver thread)

    func send(_ messages: [Message]) { peers?.send(messages) }
    func sendSnapshot(_ message: Message, dbPath: String) { peers?.sendSnapshot(message, dbPath: dbPath) }

    // MARK: PeerPoster

    func post(urls: [String], path: String, body: [UInt8], timeout: Duration) async -> (status: Int, body: [UInt8])? {
        guard let peers else { return nil }
        do {
            return (200, try await peers.forwardLease(to: urls, path: path, body: body, timeout: timeout))
        } catch TransportError.http(let status, let text) {
            return (status, Array(text.utf8))
        } catch {
            return nil
        }
    }

    // MARK: PeerHandler (event loops)

    func process(_ message: Message) { node?.driver.submit(.step(message)) }
    func isRemoved(_ id: UInt64) -> Bool { node?.membership.isRemoved(id) ?? false }
    func reportUnreachable(_ id: UInt64) { node?.driver.submit(.unreachable(id)) }
    func reportSnapshot(_ id: UInt64, failed: Bool) { node?.driver.submit(.snapshotStatus(id, failed: failed)) }

    func removedFromCluster(reportedBy peer: UInt64) { node?.removedFromCluster() }

    func receivedSnapshot(_ message: Message, dbPath: String) {
        node?.receivedSnapshot(message, dbPath: dbPath)
    }

    func membersJSON() -> [UInt8] { node?.membership.json() ?? Array("[]".utf8) }

    func promoteMember(id: UInt64) async -> PeerAnswer {
        await node?.answerPromote(id: id) ?? .error(503, "server stopped")
    }

    func hashKV(requestJSON: [UInt8]) async -> PeerAnswer {
        node?.answerHashKV(requestJSON: requestJSON) ?? .error(503, "server stopped")
    }

    func leaseRequest(path: String, body: [UInt8]) async -> (status: Int, body: [UInt8]) {
        guard let node else { return (400, Array("not a primary lessor".utf8)) }
        return await node.answerLeaseRequest(path: path, body: body)
    }
}
