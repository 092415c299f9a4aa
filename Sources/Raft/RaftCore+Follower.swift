/// Follower behaviour, and the handlers of leader messages shared with candidates.
extension RaftCore {
    func stepFollower(_ m: Message) throws(RaftError) {
        switch m.type {
        case .prop:
            if lead == 0 || disableProposalForwarding { throw .proposalDropped }
            var fwd = m
            fwd.to = lead
            send(fwd)
        case .app:
            electionElapsed = 0
            lead = m.from
            handleAppendEntries(m)
        case .heartbeat:
            electionElapsed = 0
            lead = m.from
            handleHeartbeat(m)
        case .snap:
            electionElapsed = 0
            lead = m.from
            handleSnapshot(m)
        case .transferLeader:
            if lead == 0 { return }
            var fwd = m
            fwd.to = lead
            // One a peer forwarded carries that peer's term; send stamps ours and traps on a set one
            // (found by fuzzing).
            fwd.term = 0
            send(fwd)
        case .timeoutNow:
            // The leader asked us to take over: campaign at once, skipping pre-vote and leases.
            if promotable { campaign(.transfer) }
        case .readIndex:
            if lead == 0 { return }
            var fwd = m
            fwd.to = lead
            send(fwd)
        case .readIndexResp:
            if m.entries.count != 1 { return }
            readStates.append(ReadState(index: m.index, requestCtx: m.entries[0].data))
        default:
            break
        }
    }

    func handleAppendEntries(_ m: Message) {
        if m.index < raftLog.committed {
            // Already committed here: tell the leader where we are.
            send(Message(type: .appResp, to: m.from, index: raftLog.committed))
            return
        }
        if let lastNew = raftLog.maybeAppend(index: m.index, logTerm: m.logTerm, committed: m.commit, ents: m.entries) {
            send(Message(type: .appResp, to: m.from, index: lastNew))
        } else {
            send(Message(type: .appResp, to: m.from, index: m.index, reject: true, rejectHint: raftLog.lastIndex()))
        }
    }

    func handleHeartbeat(_ m: Message) {
        // A leader sends min(match, committed), never past our log; a peer that sends more (found by
        // fuzzing) must not trap us, so we commit only what we hold.
        raftLog.commitTo(min(m.commit, raftLog.lastIndex()))
        send(Message(type: .heartbeatResp, to: m.from, context: m.context))
    }

    func handleSnapshot(_ m: Message) {
        guard let s = m.snapshot else { return }
        if restore(s) {
            send(Message(type: .appResp, to: m.from, index: raftLog.lastIndex()))
        } else {
            send(Message(type: .appResp, to: m.from, index: raftLog.committed))
        }
    }

    /// Installs a snapshot from the leader; false when our log already covers it.
    func restore(_ s: Snapshot) -> Bool {
        if s.metadata.index <= raftLog.committed { return false }
        if raftLog.matchTerm(s.metadata.index, s.metadata.term) {
            // We have the entry: just fast-forward the commit index.
            raftLog.commitTo(s.metadata.index)
            return false
        }
        raftLog.restore(s)
        restoreConfState(s.metadata.confState)
        return true
    }
}
