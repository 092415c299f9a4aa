/// Candidate and pre-candidate behaviour.
extension RaftCore {
    func stepCandidate(_ m: Message) throws(RaftError) {
        // A pre-candidate only counts pre-vote answers; stale real-vote answers must be ignored.
        let myVoteResp: MessageType = state == .preCandidate ? .preVoteResp : .voteResp
        switch m.type {
        case .prop:
            throw .proposalDropped
        case .app:
            becomeFollower(term: m.term, lead: m.from) // always m.term == term here
            handleAppendEntries(m)
        case .heartbeat:
            becomeFollower(term: m.term, lead: m.from)
            handleHeartbeat(m)
        case .snap:
            becomeFollower(term: m.term, lead: m.from)
            handleSnapshot(m)
        case myVoteResp:
            switch poll(m.from, m.type, granted: !m.reject) {
            case .won:
                if state == .preCandidate {
                    campaign(.election)
                } else {
                    becomeLeader()
                    bcastAppend()
                }
            case .lost:
                // A pre-vote loss leaves the term unchanged; a vote loss keeps the new term.
                becomeFollower(term: term, lead: 0)
            case .pending:
                break
            }
        case .timeoutNow:
            break // already campaigning
        default:
            break
        }
    }
}
