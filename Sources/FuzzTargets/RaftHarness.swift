// A small raft member to step validated peer messages into: what passes the transport's
// validation reaches RawNode.step in the server, so it must not trap raft either.
import EtcdProto
import Raft
import Transport

/// Member 1 of {1, 2, 3} over a MemoryStorage holding a short log, as a follower, candidate or
/// leader (picked by `mode`). Ready is handled as the server does: persist, then advance.
final class RaftHarness {
    static let local: UInt64 = 1
    static let peers: [UInt64] = [2, 3]
    /// A member that was removed: validation drops its messages.
    static let removed: UInt64 = 4

    let storage: MemoryStorage
    let node: RawNode

    init(mode: UInt8) {
        storage = MemoryStorage(confState: ConfState(voters: [1, 2, 3]))
        storage.append([Entry(term: 1, index: 1), Entry(term: 1, index: 2, data: [1]), Entry(term: 2, index: 3, data: [2])])
        storage.setHardState(HardState(term: 2, vote: 0, commit: 2))
        var config = RaftConfig(id: Self.local, electionTick: 10, heartbeatTick: 1, randomSeed: 1)
        config.checkQuorum = mode & 4 != 0
        config.preVote = mode & 8 != 0
        config.applied = 0
        do {
            node = try RawNode(config: config, storage: storage)
        } catch {
            preconditionFailure("harness raft: \(error)")
        }
        switch mode % 3 {
        case 1:
            try? node.campaign()
        case 2:
            try? node.campaign()
            drain()
            // Votes from both peers at whatever term the campaign reached.
            for from in Self.peers {
                let type: MessageType = node.raftState == .preCandidate ? .preVoteResp : .voteResp
                let term = type == .preVoteResp ? node.term + 1 : node.term
                try? node.step(Message(type: type, to: Self.local, from: from, term: term))
                drain()
            }
        default:
            break
        }
        drain()
    }

    func step(_ m: Message, ticks: Int = 0) {
        try? node.step(m)
        drain()
        for _ in 0..<ticks {
            node.tick()
            drain()
        }
    }

    func drain() {
        var rounds = 0
        while node.hasReady(), rounds < 64 {
            let rd = node.ready()
            if let s = rd.snapshot { try? storage.applySnapshot(s) }
            storage.append(rd.entries)
            if let hs = rd.hardState { storage.setHardState(hs) }
            for e in rd.committedEntries where e.type == .confChange {
                // The server applies only well-formed changes; raft is told the new membership.
                if let pb = try? Raftpb_ConfChange(serializedBytes: e.data), let cc = try? ConfChange(pb) {
                    _ = node.applyConfChange(cc)
                }
            }
            node.advance(rd)
            rounds += 1
        }
    }
}
