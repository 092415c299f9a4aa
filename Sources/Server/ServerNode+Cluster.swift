import EtcdDataDir
import Foundation
import Logging
import NIOCore
import Raft
import Storage
import Synchronization
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

    /// etcd's adjustTicks for a member of several (a lone voter's clock is advanced by the driver
    /// itself): once more than one peer is connected (polled every 50 ms for up to 5 s, rafthttp's
    /// read timeout), the election clock moves on by all but two ticks, so the first election
    /// takes two ticks rather than a whole timeout.
    func startInitialTickAdvance() {
        let members = membership.isEmpty ? initialMembers.count : membership.members.count
        guard members > 1 else { return }
        let ticks = options.electionTicks
        guard options.initialElectionTickAdvance else {
            logger.info("skipping initial election tick advance (election tick \(ticks))")
            return
        }
        Task.detached { [weak self] in
            for _ in 0..<100 {
                try? await Task.sleep(for: .milliseconds(50))
                guard let self else { return }
                let active = self.peerTransport.withLock { $0?.activePeers() } ?? 0
                guard active > 1 else { continue }
                self.logger.info("\(Identity.hex(self.memberID)) initialized peer connection; fast-forwarding \(ticks - 2) ticks (election ticks \(ticks)) with \(active) active peer(s)")
                self.driver.submit(.advanceTicks(ticks - 2))
                return
            }
        }
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

    /// A snapshot from the leader arrived with its backend at `dbPath` (called on the transport's
    /// event loop). etcd's format (bbolt body, v2 store JSON in `Snapshot.Data`; what every member
    /// sends now) is converted off the event loop into a backend copy at `dbPath`; an etcd-swift
    /// LMDB copy (what earlier etcd-swift members sent) is taken as it is. Anything else, or a
    /// database or data that does not check out, is refused and logged before raft sees the
    /// message, so nothing is half installed; the leader retries later.
    func receivedSnapshot(_ message: Message, dbPath: String) {
        let index = message.snapshot?.metadata.index ?? 0
        let from = Identity.hex(message.from)
        if Backend.isValidCopy(at: dbPath) {
            logger.info("received database snapshot at index \(index) from \(from) (an etcd-swift backend copy)")
            driver.submit(.step(message))
            return
        }
        guard RaftSnapshotFormat.isBbolt(at: dbPath) else {
            logger.error("refused the snapshot at index \(index) from \(from): its database is neither bbolt nor an etcd-swift backend copy")
            try? FileManager.default.removeItem(atPath: dbPath)
            return
        }
        guard snapshotConversions.withLock({ $0.insert(dbPath).inserted }) else {
            logger.warning("ignored the snapshot at index \(index) from \(from): the same snapshot is being converted")
            return
        }
        let data = message.snapshot?.data ?? []
        let logger = logger
        let driver = driver
        DispatchQueue.global().async { [self] in
            defer { _ = snapshotConversions.withLock { $0.remove(dbPath) } }
            let start = ContinuousClock.now
            do {
                let membership = data.isEmpty ? nil : try RaftSnapshotFormat.membership(v2StoreJSON: data)
                let converted = dbPath + ".lmdb"
                defer { try? FileManager.default.removeItem(atPath: converted) }
                let ci = try RaftSnapshotFormat.importBbolt(at: dbPath, membership: membership, toCopyAt: converted)
                guard rename(converted, dbPath) == 0 else { throw RaftSnapshotFormat.Failure.badDatabase("cannot rename \(converted): errno \(errno)") }
                logger.info("received database snapshot at index \(index) from \(from): imported etcd's bbolt database (consistent index \(ci), \(membership?.members.count ?? 0) members from the v2 store) in \(ContinuousClock.now - start)")
                driver.submit(.step(message))
            } catch {
                logger.error("refused the snapshot at index \(index) from \(from): \(error)")
                try? FileManager.default.removeItem(atPath: dbPath)
            }
        }
    }
}
