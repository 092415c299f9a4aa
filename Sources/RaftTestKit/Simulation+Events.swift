import Raft

extension Simulation {
    /// One random fault or administrative action.
    func randomEvent() {
        let ids = sortedIDs.filter { !(nodes[$0]!.removed) }
        let roll = Int.random(in: 0..<100, using: &rng)
        switch roll {
        case 0..<14: // crash a node, the leader more often than not
            if options.crashes, let n = crashVictim() { crashNode(n) }
        case 14..<30: // restart a crashed node
            if let n = ids.compactMap({ nodes[$0] }).filter({ !$0.isUp }).randomElement(using: &rng) {
                do { try n.start() } catch { fail("restart of \(n.id) failed: \(error)") }
            }
        case 30..<38: // isolate one node (symmetric)
            if let id = Bool.random(using: &rng) ? leaderNode?.id : ids.randomElement(using: &rng) {
                network.isolate(id, from: ids)
                stats.partitions += 1
            }
        case 38..<44: // one-way cuts
            if let a = ids.randomElement(using: &rng), let b = ids.randomElement(using: &rng), a != b {
                network.cutOneWay(from: a, to: b)
                stats.partitions += 1
            }
        case 44..<50: // split into two groups
            var shuffled = ids
            shuffled.shuffle(using: &rng)
            let k = Int.random(in: 1...max(1, shuffled.count / 2), using: &rng)
            for a in shuffled[..<k] { for b in shuffled[k...] { network.cut(a, b) } }
            stats.partitions += 1
        case 50..<64: // heal the network
            network.heal()
        case 64..<76: // snapshot and compact a log
            if options.compaction, let n = liveNodes.randomElement(using: &rng) {
                do { try n.compact(keep: UInt64.random(in: 0...4, using: &rng)) } catch { fail("compact: \(error)") }
            }
        case 76..<88:
            if options.membershipChanges { membershipChange() }
        case 88..<94: // cut the leader off right after it accepted a burst: its log diverges
            if let l = leaderNode {
                for _ in 0..<Int.random(in: 1...4, using: &rng) { propose(at: l) }
                network.isolate(l.id, from: ids)
                stats.partitions += 1
            }
        default: // leader transfer
            if let l = leaderNode, let to = l.confState.voters.randomElement(using: &rng), to != l.id {
                l.raft!.transferLeader(to: to)
                stats.transfers += 1
                process(l)
            }
        }
    }

    /// The node to crash: the leader more often than not; with asyncPersistence, preferably one
    /// whose write is in progress, above all one whose messages already left, to lose it.
    func crashVictim() -> SimNode? {
        if options.asyncPersistence && Int.random(in: 0..<4, using: &rng) != 0 {
            let writing = liveNodes.filter { $0.inflight != nil }
            if let n = writing.filter({ $0.inflight!.sent }).randomElement(using: &rng) { return n }
            if let n = writing.randomElement(using: &rng) { return n }
        }
        return Bool.random(using: &rng) ? leaderNode : liveNodes.randomElement(using: &rng)
    }

    /// Proposes one membership change at the leader: add a learner (a fresh node), promote a
    /// learner, or remove a voter other than the leader.
    func membershipChange() {
        guard let l = leaderNode, let r = l.raft else { return }
        let cs = r.status.confState
        let roll = Int.random(in: 0..<3, using: &rng)
        var cc: ConfChange?
        if roll == 0, let learner = cs.learners.first {
            cc = ConfChange(type: .addNode, nodeID: learner)
        } else if roll == 1, cs.voters.count > 3,
                  let victim = cs.voters.filter({ $0 != l.id }).randomElement(using: &rng) {
            cc = ConfChange(type: .removeNode, nodeID: victim)
        } else if cs.learners.isEmpty, nextNodeID <= UInt64(options.nodes) + 3 {
            let id = nextNodeID
            if nodes[id] == nil {
                // A fresh member starts empty and learns the membership from the leader's snapshot.
                do {
                    let n = try makeNode(id, confState: ConfState())
                    try n.start()
                    nodes[id] = n
                } catch { fail("start of \(id) failed: \(error)") }
            }
            cc = ConfChange(type: .addLearnerNode, nodeID: id)
            nextNodeID += 1
        }
        guard let change = cc else { return }
        _ = try? r.proposeConfChange(data: ConfChangeCodec.encode(change))
        process(l)
    }

    /// Heals every fault, restarts every member, and checks liveness: a leader within a bounded
    /// number of steps, and every member applying everything committed.
    func heal() -> SimFailure? {
        network.heal()
        network.dropRate = 0
        network.duplicateRate = 0
        network.maxDelay = 0
        network.fifo = true
        // Disks are fast compared with a tick too (a write in progress still completes later).
        persistDelay = 0
        for n in sortedIDs.compactMap({ nodes[$0] }) where !n.removed && !n.isUp {
            do { try n.start() } catch { fail("restart of \(n.id) failed: \(error)") }
        }
        var leaderSince: Int? = nil
        for i in 0..<options.healSteps {
            step(faults: false)
            if let f = failure { return SimFailure(seed: options.seed, step: now, message: f) }
            guard let l = leaderNode, let r = l.raft else { continue }
            if leaderSince == nil { leaderSince = i }
            if !markerApplied && i % 50 == 0 {
                // A client write after healing must commit and reach every member.
                var d: [UInt8] = [0x4D]
                Varint8.append(UInt64(i), &d)
                if (try? r.propose(d)) != nil { marker = d }
                process(l)
            }
            let members = Set(l.confState.voters + l.confState.learners)
            let target = checker.maxCommitted
            let caughtUp = members.allSatisfy { id in
                guard let n = nodes[id] else { return true }
                return n.removed || n.applied >= target
            }
            if caughtUp && markerApplied { return nil }
        }
        let leaderText = leaderNode.map { "leader \($0.id)" } ?? "no leader"
        let detail = sortedIDs.map { id -> String in
            let n = nodes[id]!
            let s = n.raft?.status
            return "\(id): up=\(n.isUp) removed=\(n.removed) applied=\(n.applied) term=\(s?.hardState.term ?? 0) state=\(String(describing: s?.softState.raftState)) lead=\(s?.softState.lead ?? 0) conf=\(n.confState.voters)/\(n.confState.learners)"
        }.joined(separator: "; ")
        let progress = leaderNode?.raft?.status.progress.sorted { $0.key < $1.key }
            .map { "\($0.key):m\($0.value.match)/n\($0.value.next)/\($0.value.state)" }.joined(separator: " ") ?? ""
        let why = leaderSince == nil ? "no leader" : "not every member applied index \(checker.maxCommitted)"
        return SimFailure(seed: options.seed, step: now,
                          message: "liveness after healing: \(why) within \(options.healSteps) steps (\(leaderText) progress \(progress)); \(detail)")
    }
}
