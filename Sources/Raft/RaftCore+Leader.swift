/// Leader behaviour: replication, commit, heartbeats, reads, leader transfer.
extension RaftCore {
    func stepLeader(_ m: Message) throws(RaftError) {
        // Messages that need no progress of the sender.
        switch m.type {
        case .beat:
            bcastHeartbeat()
            return
        case .checkQuorum:
            prs.progress[id]?.recentActive = true
            if !prs.quorumActive() {
                // Cut off from a quorum: stop acting as leader so clients go elsewhere.
                becomeFollower(term: term, lead: 0)
            }
            for pid in prs.ids where pid != id { prs.progress[pid]!.recentActive = false }
            return
        case .prop:
            precondition(!m.entries.isEmpty, "\(id) stepped empty MsgProp")
            guard prs.progress[id] != nil else { throw .proposalDropped } // removed from the cluster
            if leadTransferee != 0 { throw .proposalDropped }
            var ents = m.entries
            for i in ents.indices where ents[i].type == .confChange {
                if pendingConfIndex > raftLog.applied {
                    // One membership change at a time: neutralize this one.
                    ents[i] = Entry(type: .normal)
                } else {
                    pendingConfIndex = raftLog.lastIndex() + UInt64(i) + 1
                }
            }
            if !appendEntries(&ents) { throw .proposalDropped }
            bcastAppend()
            return
        case .readIndex:
            handleLeaderReadIndex(m)
            return
        default:
            break
        }

        guard let pr = prs.progress[m.from] else { return }
        switch m.type {
        case .appResp:
            pr.recentActive = true
            if m.reject {
                if pr.maybeDecrTo(m.index, m.rejectHint) {
                    if pr.state == .replicate { pr.becomeProbe() }
                    sendAppend(to: m.from)
                }
            } else {
                // A follower acknowledges only entries we sent; a larger index (UInt64.max overflowed
                // next = index + 1, found by fuzzing) comes from a confused peer and is dropped.
                if m.index > raftLog.lastIndex() { return }
                let oldPaused = pr.isPaused
                if pr.maybeUpdate(m.index) {
                    switch pr.state {
                    case .probe:
                        pr.becomeReplicate()
                    case .snapshot where pr.match >= pr.pendingSnapshot:
                        pr.becomeProbe()
                        pr.becomeReplicate()
                    case .replicate:
                        pr.inflights.freeLE(m.index)
                    default:
                        break
                    }
                    if maybeCommit() {
                        bcastAppend()
                    } else if oldPaused {
                        sendAppend(to: m.from)
                    }
                    // Freed window space may allow several size-limited appends at once.
                    while maybeSendAppend(to: m.from, sendIfEmpty: false) {}
                    if m.from == leadTransferee && pr.match == raftLog.lastIndex() {
                        sendTimeoutNow(to: m.from)
                    }
                }
            }
        case .heartbeatResp:
            pr.recentActive = true
            pr.probeSent = false
            // A heartbeat answer means the follower is alive: let one more append through.
            if pr.state == .replicate && pr.inflights.full { pr.inflights.freeFirstOne() }
            if pr.match < raftLog.lastIndex() { sendAppend(to: m.from) }
            if readOnly.option != .safe || m.context.isEmpty { return }
            guard let acks = readOnly.recvAck(m.from, context: m.context) else { return }
            var n = 0
            for v in prs.voters where acks.contains(v) { n += 1 }
            if n < prs.voters.count / 2 + 1 { return }
            for rs in readOnly.advance(context: m.context) {
                respondToReadIndex(rs.req, index: rs.index)
            }
        case .snapStatus:
            if pr.state != .snapshot { return }
            if m.reject { pr.pendingSnapshot = 0 }
            pr.becomeProbe()
            // Wait for the follower's answer (or the next heartbeat) before probing again.
            pr.probeSent = true
        case .unreachable:
            // Optimistic streaming to an unreachable peer is pointless: fall back to probing.
            if pr.state == .replicate { pr.becomeProbe() }
        case .transferLeader:
            if pr.isLearner { return }
            let transferee = m.from
            if leadTransferee != 0 {
                if leadTransferee == transferee { return }
                abortLeaderTransfer()
            }
            if transferee == id { return }
            // The transfer must finish within an election timeout.
            electionElapsed = 0
            leadTransferee = transferee
            if pr.match == raftLog.lastIndex() {
                sendTimeoutNow(to: transferee)
            } else {
                sendAppend(to: transferee)
            }
        default:
            break
        }
    }

    private func handleLeaderReadIndex(_ m: Message) {
        if prs.isSingleton {
            respondToReadIndex(m, index: raftLog.committed)
            return
        }
        // Until an entry of our term commits, our commit index may lag the true one (§6.4).
        if raftLog.zeroTermOnCompacted(raftLog.committed) != term { return }
        switch readOnly.option {
        case .safe:
            readOnly.addRequest(index: raftLog.committed, m)
            _ = readOnly.recvAck(id, context: m.entries[0].data)
            bcastHeartbeat(context: m.entries[0].data)
        case .leaseBased:
            respondToReadIndex(m, index: raftLog.committed)
        }
    }

    private func respondToReadIndex(_ req: Message, index: UInt64) {
        if req.from == 0 || req.from == id {
            readStates.append(ReadState(index: index, requestCtx: req.entries[0].data))
        } else {
            send(Message(type: .readIndexResp, to: req.from, index: index, entries: req.entries))
        }
    }

    func sendTimeoutNow(to: UInt64) {
        send(Message(type: .timeoutNow, to: to))
    }

    func sendAppend(to: UInt64) {
        _ = maybeSendAppend(to: to, sendIfEmpty: true)
    }

    /// Sends an append (or a snapshot when the needed entries are compacted) to `to`, unless its
    /// progress is paused. Returns whether a message was sent.
    @discardableResult
    func maybeSendAppend(to: UInt64, sendIfEmpty: Bool) -> Bool {
        guard let pr = prs.progress[to], !pr.isPaused else { return false }
        var m = Message(type: .app, to: to)
        let prevTerm: UInt64?
        do { prevTerm = try raftLog.term(pr.next - 1) } catch { prevTerm = nil }
        var ents: [Entry]? = nil
        if prevTerm != nil {
            ents = try? raftLog.entries(from: pr.next, maxSize: maxMsgSize)
        }
        if let e = ents, e.isEmpty, !sendIfEmpty { return false }

        if let prevTerm, let ents {
            m.index = pr.next - 1
            m.logTerm = prevTerm
            m.entries = ents
            m.commit = raftLog.committed
            if let last = ents.last?.index {
                switch pr.state {
                case .replicate:
                    pr.optimisticUpdate(last)
                    pr.inflights.add(last)
                case .probe:
                    pr.probeSent = true
                case .snapshot:
                    preconditionFailure("\(id) is sending append in unhandled state snapshot")
                }
            }
        } else {
            // The entries are gone from our log: send a snapshot instead.
            if !pr.recentActive { return false }
            let snap: Snapshot
            do { snap = try raftLog.snapshot() } catch {
                if error == .snapshotTemporarilyUnavailable { return false }
                preconditionFailure("\(error)")
            }
            precondition(!snap.isEmpty, "need non-empty snapshot")
            m.type = .snap
            m.snapshot = snap
            pr.becomeSnapshot(snap.metadata.index)
        }
        send(m)
        return true
    }

    /// Sends appends with new entries (or just the commit index) to every peer.
    func bcastAppend() {
        for pid in prs.ids where pid != id { sendAppend(to: pid) }
    }

    func bcastHeartbeat() {
        bcastHeartbeat(context: readOnly.lastPendingRequestCtx ?? [])
    }

    func bcastHeartbeat(context: [UInt8]) {
        for pid in prs.ids where pid != id {
            let pr = prs.progress[pid]!
            // Never tell a follower to commit past what it is known to store.
            let commit = min(pr.match, raftLog.committed)
            send(Message(type: .heartbeat, to: pid, commit: commit, context: context))
        }
    }
}
