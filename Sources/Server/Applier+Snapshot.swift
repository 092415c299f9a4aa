import Foundation
import EtcdDataDir
import Raft

/// Snapshots between members (apply thread): the leader's backend copied for a follower that is
/// behind the compacted log, and a received backend installed in place of this member's.
extension Applier {
    /// Where the transport writes a received backend, as etcd names it.
    static func snapshotDBPath(snapDir: String, index: UInt64) -> String {
        snapDir + "/" + String(format: "%016llx", index) + ".snap.db"
    }

    /// etcd 3.4's merged snapshot for a follower, at the applied index (nothing is being applied
    /// while it is made): the backend exported as a bbolt file, and the membership as the v2
    /// store JSON that goes in the message's `Snapshot.Data`. Every peer, etcd or etcd-swift,
    /// gets this format. Returns the file, the index it holds and the data.
    func exportSnapshot(for peer: UInt64, snapDir: String) -> (path: String, index: UInt64, data: [UInt8])? {
        let path = snapDir + "/" + "send-\(Identity.hex(peer))-\(UInt64.random(in: 1...UInt64.max)).snap.db.tmp"
        let start = ContinuousClock.now
        do {
            let size = try storage.backend.exportBbolt(to: path)
            let data = RaftSnapshotFormat.v2StoreJSON(v2Membership, index: appliedIndex)
            logger.info("exported the backend for a snapshot to \(Identity.hex(peer)): \(size) bytes at index \(appliedIndex), took \(ContinuousClock.now - start)")
            return (path, appliedIndex, data)
        } catch {
            logger.error("cannot export the backend for a snapshot to \(Identity.hex(peer)): \(error)")
            try? FileManager.default.removeItem(atPath: path)
            return nil
        }
    }

    /// The membership as etcd 3.4's v2 store holds it.
    var v2Membership: RaftSnapshotFormat.Membership {
        RaftSnapshotFormat.Membership(
            members: membership.members.map {
                V2Membership.Member(id: $0.id, peerURLs: $0.peerURLs, isLearner: $0.isLearner, name: $0.name, clientURLs: $0.clientURLs)
            },
            removed: membership.removedIDs, clusterVersion: membership.clusterVersion)
    }

    /// Replaces the state machine with the backend received for `meta` (the driver recorded the
    /// snapshot in the WAL first): MVCC, leases, membership and alarms are reloaded, watchers
    /// catch up from the new data. A backend that cannot be installed stops the member.
    func installSnapshot(_ meta: SnapshotMetadata) {
        let path = Self.snapshotDBPath(snapDir: storage.snapDir, index: meta.index)
        if meta.index <= appliedIndex, !FileManager.default.fileExists(atPath: path) { return }
        do {
            // MVCC swaps its data and index together, so no reader sees one without the other.
            let leases = try storage.store.replaceContents(withCopyAt: path)
            try reloadStateMachine(leases: leases)
            try storage.noteSnapshot(index: meta.index, term: meta.term)
        } catch {
            fatal("cannot install the snapshot at index \(meta.index) from \(path): \(error)")
        }
        try? FileManager.default.removeItem(atPath: path)
        markApplied(max(meta.index, storage.store.consistentIndex))
        logger.info("applied incoming snapshot at index \(meta.index); backend now at revision \(storage.currentRevision)")
    }

    /// Reloads every in-memory view of the backend after its contents were replaced.
    func reloadStateMachine(leases: [(key: [UInt8], lease: Int64)]) throws {
        let primary = lessor.isPrimary
        try lessor.reload()
        for (key, lease) in leases { try? lessor.attach(id: lease, key: key) }
        try membership.reload(storage.backend)
        try alarms.reload(storage.backend)
        try auth.reload()
        watchable.restore()
        if primary { lessor.promote(extend: .seconds(1)) }
    }
}
