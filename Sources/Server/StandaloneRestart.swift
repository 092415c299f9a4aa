import EtcdProto
import Raft

/// `--force-new-cluster` on a member that has a WAL: disaster recovery after the loss of a quorum.
/// As etcd's restartAsStandaloneNode: the entries the WAL holds beyond its commit index are
/// dropped (nobody can commit them any more), and configuration changes are appended and taken as
/// committed that leave this member the only voter. They are applied like any committed change,
/// so the membership, raft's configuration and the transport all lose the other members, and the
/// lone voter elects itself. Pure: `ServerNode` writes the result to the WAL.
struct StandaloneRestart: Equatable {
    /// The WAL's entries up to its commit index, then the appended changes.
    var entries: [Entry]
    /// The appended changes alone (they are saved to the WAL before raft starts).
    var appended: [Entry]
    /// The recovered hard state, its commit moved to the last appended change.
    var hardState: HardState
    /// How many uncommitted entries were dropped (etcd logs it).
    var discarded: Int

    /// - Parameters:
    ///   - voters: the voters of the snapshot the entries follow (etcd reads the snapshot's
    ///     ConfState; learners there are not counted, as in etcd).
    ///   - entries: the WAL's entries after that snapshot.
    init(selfID: UInt64, voters: [UInt64], entries: [Entry], hardState: HardState) {
        var kept = entries
        if let cut = kept.firstIndex(where: { $0.index > hardState.commit }) {
            discarded = kept.count - cut
            kept.removeSubrange(cut...)
        } else {
            discarded = 0
        }
        let ids = Self.members(voters: voters, entries: kept)
        var next = hardState.commit + 1
        var changes: [Entry] = []
        func append(_ change: [UInt8]) {
            changes.append(Entry(term: hardState.term, index: next, type: .confChange, data: change))
            next += 1
        }
        // Self first: raft must never be left without a voter. etcd's placeholder peer URL: the
        // member's real ones are unknown here.
        if !ids.contains(selfID) {
            append(ServerNode.addNodeChange(Member(id: selfID, peerURLs: ["http://localhost:2380"])))
        }
        for id in ids where id != selfID {
            var remove = Raftpb_ConfChange()
            remove.id = 0  // written, as etcd's (gogo, non-nullable) encoding writes it
            remove.type = .confChangeRemoveNode
            remove.nodeID = id
            append(remove.serializedBytes())
        }
        appended = changes
        self.entries = kept + changes
        var hs = hardState
        if let last = self.entries.last { hs.commit = last.index }
        self.hardState = hs
    }

    /// The members after `voters` and the configuration changes among `entries` (etcd's getIDs),
    /// in ascending order.
    static func members(voters: [UInt64], entries: [Entry]) -> [UInt64] {
        var ids = Set(voters)
        for e in entries where e.type == .confChange {
            guard let cc = try? Raftpb_ConfChange(serializedBytes: e.data), let id = cc.nodeID else { continue }
            switch cc.type {
            case .confChangeAddNode, .confChangeAddLearnerNode: ids.insert(id)
            case .confChangeRemoveNode: ids.remove(id)
            default: break
            }
        }
        return ids.sorted()
    }
}
