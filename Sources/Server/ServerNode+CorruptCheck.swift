import EtcdProto
import Foundation
import Logging

/// The two corruption checks of etcd 3.4 (CheckInitialHashKV, monitorKVHash / checkHashKV), with
/// etcd's log lines and outcomes.
extension ServerNode {
    /// Before serving: this member's hash at its revision against every peer's at the same
    /// revision. Only a peer with the same compact revision and another hash is a mismatch;
    /// throws etcd's "<id> found data inconsistency with peers" then.
    public func checkInitialHashKV() async throws(ServerError) {
        let local = Identity.hex(memberID)
        logger.info("starting initial corruption check", metadata: [
            "local-member-id": "\(local)", "timeout": "\(options.requestTimeout)",
        ])
        let mine: (hash: UInt32, revision: Int64, compactRevision: Int64)
        do { mine = try storage.hashKV(revision: 0) } catch {
            throw .internal("\(local) failed to fetch hash (\(error))")
        }
        var mismatches = 0
        for (peer, result) in await peerHashes(revision: mine.revision) {
            let base: Logger.Metadata = [
                "local-member-id": "\(local)", "local-member-revision": "\(mine.revision)",
                "local-member-compact-revision": "\(mine.compactRevision)", "local-member-hash": "\(mine.hash)",
                "remote-peer-id": "\(Identity.hex(peer.id))", "remote-peer-endpoints": "\(peer.peerURLs)",
            ]
            switch result {
            case .success(let theirs):
                guard theirs.hash != mine.hash else { continue }
                let fields = base.merging([
                    "remote-peer-revision": "\(theirs.revision)", "remote-peer-compact-revision": "\(theirs.compactRevision)",
                    "remote-peer-hash": "\(theirs.hash)",
                ]) { $1 }
                if theirs.compactRevision == mine.compactRevision {
                    logger.warning("found different hash values from remote peer", metadata: fields)
                    mismatches += 1
                } else {
                    logger.warning("found different compact revision values from remote peer", metadata: fields)
                }
            case .failure(.futureRevision):
                logger.warning("cannot fetch hash from slow remote peer", metadata: base)
            case .failure(.compacted):
                logger.warning("cannot fetch hash from remote peer; local member is behind", metadata: base)
            case .failure:
                break  // unreachable peers are no evidence either way
            }
        }
        if mismatches > 0 { throw .internal("\(local) found data inconsistency with peers") }
        logger.info("initial corruption checking passed; no corruption", metadata: ["local-member-id": "\(local)"])
    }

    /// On the leader, every `interval`: the checks of etcd's checkHashKV; a mismatch raises the
    /// CORRUPT alarm (member id 0: which member is corrupt is not known) through raft.
    func startCorruptionMonitor() {
        let interval = options.corruptCheckInterval
        guard interval > .zero else { return }
        logger.info("enabled corruption checking", metadata: [
            "local-member-id": "\(Identity.hex(memberID))", "interval": "\(interval)",
        ])
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                guard self.isLeader else { continue }
                do { try await self.checkHashKV() } catch {
                    self.logger.warning("failed to check hash KV", metadata: ["error": "\(error)"])
                }
            }
        }
        corruptionMonitor.withLock { $0 = task }
    }

    func checkHashKV() async throws(ServerError) {
        let first = try storage.hashKV(revision: 0)
        let peers = await peerHashes(revision: first.revision)
        try await linearizableBarrier()
        let second = try storage.hashKV(revision: 0)

        var alarmed = false
        func mismatch() {
            guard !alarmed else { return }
            alarmed = true
            var alarm = Etcdserverpb_AlarmRequest()
            alarm.memberID = 0
            alarm.action = .activate
            alarm.alarm = .corrupt
            Task { _ = try? await self.propose { $0.alarm = alarm } }
        }
        if second.hash != first.hash && second.revision == first.revision && second.compactRevision == first.compactRevision {
            logger.warning("found hash mismatch", metadata: [
                "revision-1": "\(first.revision)", "compact-revision-1": "\(first.compactRevision)", "hash-1": "\(first.hash)",
                "revision-2": "\(second.revision)", "compact-revision-2": "\(second.compactRevision)", "hash-2": "\(second.hash)",
            ])
            mismatch()
        }
        var checked = 0
        for (peer, result) in peers {
            guard case .success(let theirs) = result else { continue }
            checked += 1
            let id = Identity.hex(peer.id)
            if theirs.revision > second.revision {
                logger.warning("revision from follower must be less than or equal to leader's", metadata: [
                    "leader-revision": "\(second.revision)", "follower-revision": "\(theirs.revision)", "follower-peer-id": "\(id)",
                ])
                mismatch()
            }
            if theirs.compactRevision > second.compactRevision {
                logger.warning("compact revision from follower must be less than or equal to leader's", metadata: [
                    "leader-compact-revision": "\(second.compactRevision)",
                    "follower-compact-revision": "\(theirs.compactRevision)", "follower-peer-id": "\(id)",
                ])
                mismatch()
            }
            if theirs.compactRevision == first.compactRevision && theirs.hash != first.hash {
                logger.warning("same compact revision then hashes must match", metadata: [
                    "leader-compact-revision": "\(second.compactRevision)", "leader-hash": "\(first.hash)",
                    "follower-compact-revision": "\(theirs.compactRevision)", "follower-hash": "\(theirs.hash)",
                    "follower-peer-id": "\(id)",
                ])
                mismatch()
            }
        }
        logger.info("finished peer corruption check", metadata: ["number-of-peers-checked": "\(checked)"])
    }
}
