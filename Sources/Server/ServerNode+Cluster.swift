import EtcdDataDir
import Foundation
import Logging
import NIOCore
import Raft
import Storage
import TLS
import Transport

/// The member among others: the peer transport on `--listen-peer-urls`, snapshots from the
/// leader, and handing leadership over before stopping.
extension ServerNode {
    /// Listens on the peer URLs, connects to every other member, then starts raft and the
    /// applier. A single-member cluster may call `start()` instead.
    /// The peer transport runs on the raft driver's own loop. `peerTLS` serves https peer URLs
    /// and dials https members.
    public func start(listenPeerURLs: [String], peerTLS: TLSEndpoint? = nil) async throws {
        let bridge = PeerBridge(node: self)
        let transport = PeerTransport(
            localID: memberID, clusterID: clusterID, localPeerURLs: options.advertisePeerURLs,
            clusterVersion: membership.clusterVersion, snapDir: MemberLayout.memberDir(dataDir: options.dataDir) + "/snap", handler: bridge,
            group: raftLoop, logger: Logger(label: "rafthttp"), tls: peerTLS)
        bridge.attach(transport)
        let known = membership.isEmpty ? initialMembers : membership.members
        try await transport.listen(urls: listenPeerURLs)
        for m in known where m.id != memberID { transport.addPeer(id: m.id, urls: m.peerURLs) }
        peerTransport.withLock { $0 = transport }
        start(sender: bridge, poster: bridge)
    }

    /// Stops serving: a leader first hands leadership to a caught-up follower (etcd's
    /// TransferLeadership on stop), then the transport and the member stop.
    public func shutdown() async {
        if isLeader, driver.status.withLock({ $0.voters.count }) > 1 {
            let before = driver.status.withLock { $0.term }
            driver.submit(.transferToBestFollower)
            let deadline = ContinuousClock.now + .milliseconds(2 * options.electionTimeoutMs)
            while ContinuousClock.now < deadline {
                let (lead, term) = driver.status.withLock { ($0.leader, $0.term) }
                if lead != memberID && lead != 0 && term > before { break }
                try? await Task.sleep(for: .milliseconds(20))
            }
            let lead = leader
            if lead != memberID && lead != 0 {
                logger.info("leadership transferred to \(Identity.hex(lead)) before stopping")
            } else {
                logger.warning("leadership transfer failed before stopping")
            }
        }
        // The transport shares the raft loop: stop it while that loop still runs.
        let transport = peerTransport.withLock { $0 }
        await transport?.stop()
        stop()
    }

    /// A snapshot from the leader arrived with its backend at `dbPath`. A backend this member
    /// cannot install (not a copy of an etcd-swift backend: a real etcd leader sends bbolt) is
    /// refused before raft sees the message, so nothing is half installed.
    func receivedSnapshot(_ message: Message, dbPath: String) {
        let index = message.snapshot?.metadata.index ?? 0
        guard Backend.isValidCopy(at: dbPath) else {
            logger.error("refused the snapshot at index \(index) from \(Identity.hex(message.from)): its backend is not an etcd-swift (LMDB) backend")
            try? FileManager.default.removeItem(atPath: dbPath)
            return
        }
        logger.info("received database snapshot at index \(index) from \(Identity.hex(message.from))")
        driver.submit(.step(message))
    }
}
