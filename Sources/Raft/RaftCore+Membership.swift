/// Membership: installing a configuration from a snapshot and applying single changes.
extension RaftCore {
    /// Replaces the whole configuration (at start-up or when a snapshot is installed).
    func restoreConfState(_ cs: ConfState) {
        prs.voters = Set(cs.voters)
        prs.learners = Set(cs.learners)
        prs.progress = [:]
        let next = raftLog.lastIndex() + 1
        for v in cs.voters { prs.progress[v] = Progress(next: next, inflights: prs.maxInflight, isLearner: false) }
        for l in cs.learners { prs.progress[l] = Progress(next: next, inflights: prs.maxInflight, isLearner: true) }
        if let me = prs.progress[id] {
            me.match = raftLog.lastIndex()
        }
        prs.membershipChanged()
        isLearner = prs.learners.contains(id)
    }

    /// Applies one committed membership change and returns the resulting configuration.
    func applyConfChange(_ cc: ConfChange) -> ConfState {
        let nid = cc.nodeID
        switch cc.type {
        case .addNode:
            if let pr = prs.progress[nid] {
                if pr.isLearner {
                    // Promotion keeps the replication progress already made.
                    pr.isLearner = false
                    prs.learners.remove(nid)
                    prs.voters.insert(nid)
                }
            } else {
                addProgress(nid, learner: false)
            }
        case .addLearnerNode:
            // Demoting a voter is not supported; adding an existing learner is a no-op.
            if prs.progress[nid] == nil { addProgress(nid, learner: true) }
        case .removeNode:
            prs.progress[nid] = nil
            prs.voters.remove(nid)
            prs.learners.remove(nid)
            prs.votes[nid] = nil
        case .updateNode:
            break
        }
        prs.membershipChanged()
        isLearner = prs.learners.contains(id)

        if state != .leader || prs.voters.isEmpty { return prs.confState }
        if prs.progress[id] == nil {
            // We were removed while leading: the application is expected to stop this node.
            return prs.confState
        }
        // The quorum may have shrunk: commit what it now allows, and talk to new members.
        if maybeCommit() {
            bcastAppend()
        } else {
            for pid in prs.ids where pid != id { maybeSendAppend(to: pid, sendIfEmpty: false) }
        }
        if leadTransferee != 0 && !prs.voters.contains(leadTransferee) { abortLeaderTransfer() }
        return prs.confState
    }

    private func addProgress(_ nid: UInt64, learner: Bool) {
        // A new member counts as recently active, so check-quorum does not depose us before it
        // had a chance to answer.
        let pr = Progress(next: raftLog.lastIndex() + 1, inflights: prs.maxInflight, isLearner: learner,
                          recentActive: true)
        prs.progress[nid] = pr
        if learner { prs.learners.insert(nid) } else { prs.voters.insert(nid) }
    }
}
