import Raft

/// A safety or liveness violation found by the simulation, with what is needed to replay it.
public struct SimFailure: Error, CustomStringConvertible, Sendable {
    public var seed: UInt64
    public var step: Int
    public var message: String

    public var description: String { "seed \(seed), step \(step): \(message)" }
}

/// The global record that every step is checked against.
struct InvariantChecker {
    /// term -> the one leader seen in it (election safety).
    var leaderOfTerm: [UInt64: UInt64] = [:]
    /// index -> (term, checksum of the entry) for every entry seen committed (state-machine safety).
    var committed: [UInt64: (term: UInt64, hash: UInt64, observedTerm: UInt64)] = [:]
    var maxCommitted: UInt64 = 0
    /// applied index -> state machine checksum (no two nodes apply different histories).
    var appliedChecksum: [UInt64: UInt64] = [:]

    mutating func observeLeader(_ id: UInt64, term: UInt64) -> String? {
        if let l = leaderOfTerm[term] {
            if l != id { return "election safety: nodes \(l) and \(id) both leaders in term \(term)" }
        } else {
            leaderOfTerm[term] = id
        }
        return nil
    }

    mutating func observeCommitted(_ e: Entry, byNodeAtTerm t: UInt64) -> String? {
        let h = SimNode.mix(0, e)
        if let c = committed[e.index] {
            if c.term != e.term || c.hash != h {
                return "state-machine safety: index \(e.index) committed as term \(c.term) and as term \(e.term)"
            }
            if t < c.observedTerm { committed[e.index]!.observedTerm = t }
        } else {
            committed[e.index] = (e.term, h, t)
            maxCommitted = max(maxCommitted, e.index)
        }
        return nil
    }

    mutating func observeApplied(node: UInt64, index: UInt64, checksum: UInt64) -> String? {
        if let c = appliedChecksum[index] {
            if c != checksum { return "state-machine safety: node \(node) applied a different history at \(index)" }
        } else {
            appliedChecksum[index] = checksum
        }
        return nil
    }

    /// Log matching: if two logs hold an entry with the same index and term, they are identical up
    /// to it. Checked inductively: equal terms at i imply equal entries at i and equal terms at i-1.
    static func checkLogMatching(_ a: SimNode, _ b: SimNode) -> String? {
        let sa = a.storage
        let sb = b.storage
        guard let fa = try? sa.firstIndex(), let la = try? sa.lastIndex(),
              let fb = try? sb.firstIndex(), let lb = try? sb.lastIndex() else { return nil }
        let lo = max(fa, fb)
        let hi = min(la, lb)
        if lo > hi { return nil }
        guard let ea = try? sa.entries(lo, hi + 1, maxSize: Int.max),
              let eb = try? sb.entries(lo, hi + 1, maxSize: Int.max) else { return nil }
        for k in 0..<ea.count where ea[k].term == eb[k].term {
            if ea[k] != eb[k] {
                return "log matching: nodes \(a.id) and \(b.id) differ at index \(ea[k].index) of term \(ea[k].term)"
            }
            if k > 0 && ea[k - 1].term != eb[k - 1].term {
                return "log matching: nodes \(a.id) and \(b.id) agree at \(ea[k].index) but not at \(ea[k].index - 1)"
            }
        }
        return nil
    }

    /// Leader completeness: a leader of term T holds every entry committed in a term before T.
    func checkLeaderCompleteness(_ leader: SimNode, term: UInt64) -> String? {
        let s = leader.storage
        guard let first = try? s.firstIndex(), let last = try? s.lastIndex() else { return nil }
        if maxCommitted < first { return nil }
        for i in first...maxCommitted {
            guard let c = committed[i], c.observedTerm < term else { continue }
            if i > last {
                return "leader completeness: leader \(leader.id) of term \(term) lacks committed index \(i)"
            }
            if let t = try? s.term(i), t != c.term {
                return "leader completeness: leader \(leader.id) of term \(term) has term \(t) at committed index \(i) (want \(c.term))"
            }
        }
        return nil
    }
}
