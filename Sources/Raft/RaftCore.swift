/// Context marking a vote request that comes from a leader transfer: it bypasses leader leases.
let campaignTransferContext: [UInt8] = Array("CampaignTransfer".utf8)

enum CampaignType { case preElection, election, transfer }

/// The raft state machine proper. `RawNode` is its public face; this class is split by role into
/// extension files (`+Leader`, `+Candidate`, `+Follower`, `+Membership`).
final class RaftCore {
    let id: UInt64
    var term: UInt64 = 0
    var vote: UInt64 = 0
    var readStates: [ReadState] = []
    var raftLog: RaftLog
    let maxMsgSize: Int
    let maxUncommittedSize: Int
    var prs: ProgressTracker
    var state: StateType = .follower
    var isLearner = false
    /// Outgoing messages, drained by `Ready`.
    var msgs: [Message] = []
    var lead: UInt64 = 0
    var leadTransferee: UInt64 = 0
    /// Only one membership change may be pending: the index of the latest one proposed.
    var pendingConfIndex: UInt64 = 0
    var uncommittedSize = 0
    var readOnly: ReadOnly
    var electionElapsed = 0
    var heartbeatElapsed = 0
    let checkQuorum: Bool
    let preVote: Bool
    let heartbeatTimeout: Int
    let electionTimeout: Int
    var randomizedElectionTimeout = 0
    let disableProposalForwarding: Bool
    var rng: SplitMix64
    let readOnlyOption: ReadOnlyOption

    init(config c: RaftConfig, storage: any RaftStorage) throws(RaftError) {
        try c.validate()
        do {
            raftLog = try RaftLog(storage: storage, maxNextEntsSize: c.maxCommittedSizePerReady)
        } catch {
            throw .storage(error)
        }
        let hs: HardState
        let cs: ConfState
        do { (hs, cs) = try storage.initialState() } catch { throw .storage(error) }
        id = c.id
        maxMsgSize = c.maxSizePerMsg
        maxUncommittedSize = c.maxUncommittedEntriesSize
        prs = ProgressTracker(maxInflight: c.maxInflightMsgs)
        electionTimeout = c.electionTick
        heartbeatTimeout = c.heartbeatTick
        checkQuorum = c.checkQuorum
        preVote = c.preVote
        readOnlyOption = c.readOnlyOption
        readOnly = ReadOnly(option: c.readOnlyOption)
        disableProposalForwarding = c.disableProposalForwarding
        rng = SplitMix64(seed: c.randomSeed)

        restoreConfState(cs)
        if !hs.isEmpty { loadState(hs) }
        // An application that applies in parallel with persisting may have applied entries whose
        // commit index did not reach the disk before a crash: they come again (see `Ready`).
        if c.applied > 0 { raftLog.appliedTo(min(c.applied, raftLog.committed)) }
        becomeFollower(term: term, lead: 0)
    }

    func loadState(_ hs: HardState) {
        precondition(hs.commit <= raftLog.lastIndex(),
                     "\(id) state.commit \(hs.commit) is out of range [\(raftLog.committed), \(raftLog.lastIndex())]")
        // A commit index below the snapshot's (already the initial `committed`) means the
        // application snapshotted applied entries before the hard state carrying their commit
        // index was durable (it applies in parallel with persisting): the snapshot proves them
        // committed, so keep the higher value.
        raftLog.committed = max(hs.commit, raftLog.committed)
        term = hs.term
        vote = hs.vote
    }

    var softState: SoftState { SoftState(lead: lead, raftState: state) }
    var hardState: HardState { HardState(term: term, vote: vote, commit: raftLog.committed) }

    /// A node may campaign only if it is a voter of the configuration it knows.
    var promotable: Bool {
        guard let pr = prs.progress[id] else { return false }
        return !pr.isLearner
    }

    // MARK: sending

    /// Stamps `m` with our id and (for non-vote messages) our term and queues it.
    func send(_ m: Message) {
        var m = m
        if m.from == 0 { m.from = id }
        switch m.type {
        case .vote, .voteResp, .preVote, .preVoteResp:
            // Vote messages carry the term they are about (for pre-votes, a future one).
            precondition(m.term != 0, "term should be set when sending \(m.type)")
        default:
            precondition(m.term == 0, "term should not be set when sending \(m.type) (was \(m.term))")
            // Proposals and read requests forwarded to the leader travel as local messages.
            if m.type != .prop && m.type != .readIndex { m.term = term }
        }
        msgs.append(m)
    }

    // MARK: state transitions

    func reset(term newTerm: UInt64) {
        if term != newTerm {
            term = newTerm
            vote = 0
        }
        lead = 0
        electionElapsed = 0
        heartbeatElapsed = 0
        resetRandomizedElectionTimeout()
        abortLeaderTransfer()
        prs.resetVotes()
        let last = raftLog.lastIndex()
        for pid in prs.ids {
            let old = prs.progress[pid]!
            let pr = Progress(next: last + 1, inflights: prs.maxInflight, isLearner: old.isLearner)
            if pid == id { pr.match = last }
            prs.progress[pid] = pr
        }
        pendingConfIndex = 0
        uncommittedSize = 0
        readOnly = ReadOnly(option: readOnlyOption)
    }

    func resetRandomizedElectionTimeout() {
        randomizedElectionTimeout = electionTimeout + Int(rng.next() % UInt64(electionTimeout))
    }

    var pastElectionTimeout: Bool { electionElapsed >= randomizedElectionTimeout }

    func becomeFollower(term: UInt64, lead newLead: UInt64) {
        reset(term: term)
        lead = newLead
        state = .follower
    }

    func becomeCandidate() {
        precondition(state != .leader, "invalid transition [leader -> candidate]")
        reset(term: term + 1)
        vote = id
        state = .candidate
    }

    func becomePreCandidate() {
        precondition(state != .leader, "invalid transition [leader -> pre-candidate]")
        // A pre-candidate changes neither term nor vote: it only asks whether it could win.
        prs.resetVotes()
        lead = 0
        state = .preCandidate
    }

    func becomeLeader() {
        precondition(state != .follower, "invalid transition [follower -> leader]")
        reset(term: term)
        lead = id
        state = .leader
        prs.progress[id]?.becomeReplicate()
        // Entries of earlier terms may be uncommitted; no membership change until they are applied.
        pendingConfIndex = raftLog.lastIndex()
        // The empty entry of the new term lets earlier entries commit (Raft §5.4.2).
        var empty = [Entry()]
        _ = appendEntries(&empty)
    }

    // MARK: ticks

    func tick() {
        if state == .leader { tickHeartbeat() } else { tickElection() }
    }

    func tickElection() {
        electionElapsed += 1
        if promotable && pastElectionTimeout {
            electionElapsed = 0
            _ = try? step(Message(type: .hup, from: id))
        }
    }

    func tickHeartbeat() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= electionTimeout {
            electionElapsed = 0
            if checkQuorum { _ = try? step(Message(type: .checkQuorum, from: id)) }
            // A transfer that did not finish within an election timeout is abandoned.
            if state == .leader && leadTransferee != 0 { abortLeaderTransfer() }
        }
        if state != .leader { return }
        if heartbeatElapsed >= heartbeatTimeout {
            heartbeatElapsed = 0
            _ = try? step(Message(type: .beat, from: id))
        }
    }

    // MARK: campaigning

    func campaign(_ t: CampaignType) {
        guard promotable else { return }
        let voteType: MessageType
        let voteTerm: UInt64
        if t == .preElection {
            becomePreCandidate()
            voteType = .preVote
            // Ask about the term we would use, without adopting it yet.
            voteTerm = term + 1
        } else {
            becomeCandidate()
            voteType = .vote
            voteTerm = term
        }
        if poll(id, voteType.voteResponse, granted: true) == .won {
            // A single-voter cluster wins at once.
            if t == .preElection { campaign(.election) } else { becomeLeader() }
            return
        }
        let lastIndex = raftLog.lastIndex()
        let lastTerm = raftLog.lastTerm()
        for v in prs.sortedVoters where v != id {
            send(Message(type: voteType, to: v, term: voteTerm, logTerm: lastTerm, index: lastIndex,
                         context: t == .transfer ? campaignTransferContext : []))
        }
    }

    func poll(_ from: UInt64, _ t: MessageType, granted: Bool) -> VoteResult {
        prs.recordVote(from, granted)
        return prs.tallyVotes().result
    }

    // MARK: stepping

    /// Feeds one message (network or local) into the state machine.
    func step(_ m: Message) throws(RaftError) {
        if m.term == 0 {
            // Local message.
        } else if m.term > term {
            if m.type == .vote || m.type == .preVote {
                let force = m.context == campaignTransferContext
                let inLease = checkQuorum && lead != 0 && electionElapsed < electionTimeout
                // Within the lease of a leader we heard from, ignore disruptive campaigns (§6).
                if !force && inLease { return }
            }
            switch m.type {
            case .preVote:
                break // never change term in response to a pre-vote
            case .preVoteResp where !m.reject:
                break // the term rises when the pre-vote wins a quorum
            default:
                if m.type == .app || m.type == .heartbeat || m.type == .snap {
                    becomeFollower(term: m.term, lead: m.from)
                } else {
                    becomeFollower(term: m.term, lead: 0)
                }
            }
        } else if m.term < term {
            if (checkQuorum || preVote) && (m.type == .heartbeat || m.type == .app) {
                // A stale leader cut off by a partition learns the new term from this answer;
                // otherwise, with pre-vote or check-quorum, it could never be told.
                send(Message(type: .appResp, to: m.from))
            } else if m.type == .preVote {
                send(Message(type: .preVoteResp, to: m.from, term: term, reject: true))
            }
            return
        }

        switch m.type {
        case .hup:
            if state != .leader { hup(m) }
        case .vote, .preVote:
            handleVoteRequest(m)
        default:
            switch state {
            case .leader: try stepLeader(m)
            case .candidate, .preCandidate: try stepCandidate(m)
            case .follower: try stepFollower(m)
            }
        }
    }

    private func hup(_ m: Message) {
        guard promotable else { return }
        // Campaigning with an unapplied membership change could use a stale configuration.
        if raftLog.committed > raftLog.applied {
            let ents = (try? raftLog.slice(raftLog.applied + 1, raftLog.committed + 1, maxSize: Int.max)) ?? []
            if ents.contains(where: { $0.type == .confChange }) { return }
        }
        campaign(preVote ? .preElection : .election)
    }

    func handleVoteRequest(_ m: Message) {
        // We can vote for the one we already voted for, or anyone if we have no vote nor leader in
        // this term; a pre-vote for a future term is always considered.
        let canVote = vote == m.from || (vote == 0 && lead == 0) || (m.type == .preVote && m.term > term)
        if canVote && raftLog.isUpToDate(m.index, m.logTerm) {
            send(Message(type: m.type.voteResponse, to: m.from, term: m.term))
            if m.type == .vote {
                electionElapsed = 0
                vote = m.from
            }
        } else {
            send(Message(type: m.type.voteResponse, to: m.from, term: term, reject: true))
        }
    }

    /// Assigns term and index to new entries and appends them to our log. Returns false when the
    /// uncommitted-size limit drops them.
    func appendEntries(_ es: inout [Entry]) -> Bool {
        let li = raftLog.lastIndex()
        for i in es.indices {
            es[i].term = term
            es[i].index = li + 1 + UInt64(i)
        }
        if !increaseUncommittedSize(es) { return false }
        let newLast = raftLog.append(es[...])
        // The leader counts its own entries at once, before the application persisted them (as
        // etcd 3.4's raft does). That is safe because a commit index depending on them is handed
        // out only in a Ready produced after this one was persisted: see `Ready`.
        _ = prs.progress[id]?.maybeUpdate(newLast)
        _ = maybeCommit()
        return true
    }

    func increaseUncommittedSize(_ es: [Entry]) -> Bool {
        if maxUncommittedSize == 0 { return true }
        var s = 0
        for e in es { s += e.data.count }
        if uncommittedSize > 0 && s > 0 && uncommittedSize + s > maxUncommittedSize { return false }
        uncommittedSize += s
        return true
    }

    func reduceUncommittedSize(_ es: [Entry]) {
        if uncommittedSize == 0 { return }
        var s = 0
        for e in es { s += e.data.count }
        uncommittedSize = s > uncommittedSize ? 0 : uncommittedSize - s
    }

    /// Advances the commit index to what a quorum stores, if that entry is of our term.
    func maybeCommit() -> Bool {
        raftLog.maybeCommit(prs.committed(), term)
    }

    func abortLeaderTransfer() { leadTransferee = 0 }
}
