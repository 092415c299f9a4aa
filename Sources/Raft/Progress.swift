/// How the leader currently replicates to one follower.
public enum ProgressState: UInt8, Sendable, Hashable {
    /// Send one append per heartbeat interval until the follower's position is found.
    case probe
    /// Stream appends optimistically, bounded by the inflight window.
    case replicate
    /// A snapshot is on its way; send nothing else until it is reported.
    case snapshot
}

/// The leader's view of one follower (or learner). A class so that the tracker mutates it in place.
final class Progress {
    var match: UInt64 = 0
    var next: UInt64
    var state: ProgressState = .probe
    /// Index of the snapshot being sent, while in `.snapshot`.
    var pendingSnapshot: UInt64 = 0
    /// Heard from since the last check-quorum round.
    var recentActive = false
    /// In `.probe`, an append was sent and we wait for its answer (or the next heartbeat).
    var probeSent = false
    var isLearner: Bool
    var inflights: Inflights

    init(next: UInt64, inflights: Int, isLearner: Bool, recentActive: Bool = false) {
        self.recentActive = recentActive
        self.next = next
        self.isLearner = isLearner
        self.inflights = Inflights(size: inflights)
    }

    func resetState(_ s: ProgressState) {
        probeSent = false
        pendingSnapshot = 0
        state = s
        inflights.reset()
    }

    func becomeProbe() {
        if state == .snapshot {
            let pending = pendingSnapshot
            resetState(.probe)
            next = max(match + 1, pending + 1)
        } else {
            resetState(.probe)
            next = match + 1
        }
    }

    func becomeReplicate() {
        resetState(.replicate)
        next = match + 1
    }

    func becomeSnapshot(_ snapshotIndex: UInt64) {
        resetState(.snapshot)
        pendingSnapshot = snapshotIndex
    }

    /// The follower acknowledged `n`; returns false if that is not news.
    func maybeUpdate(_ n: UInt64) -> Bool {
        var updated = false
        if match < n {
            match = n
            updated = true
            probeSent = false
        }
        next = max(next, n + 1)
        return updated
    }

    func optimisticUpdate(_ n: UInt64) { next = n + 1 }

    /// The follower rejected an append at `rejected`, its last index being `last`. Returns false
    /// for a stale rejection.
    func maybeDecrTo(_ rejected: UInt64, _ last: UInt64) -> Bool {
        if state == .replicate {
            if rejected <= match { return false }
            next = match + 1
            return true
        }
        if next == 0 || next - 1 != rejected { return false }
        // min(rejected, last + 1), without overflowing on a bogus hint of UInt64.max (fuzzing).
        next = max(last < rejected ? last + 1 : rejected, 1)
        probeSent = false
        return true
    }

    var isPaused: Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflights.full
        case .snapshot: return true
        }
    }
}

/// The outcome of counting votes.
enum VoteResult { case pending, lost, won }

/// Tracks membership, every peer's replication progress, and votes.
struct ProgressTracker {
    var voters: Set<UInt64> = []
    var learners: Set<UInt64> = []
    var progress: [UInt64: Progress] = [:]
    var votes: [UInt64: Bool] = [:]
    let maxInflight: Int
    /// Voters sorted, cached because commit computation runs on every acknowledgement.
    private(set) var sortedVoters: [UInt64] = []
    /// Every tracked peer, sorted so that message order is deterministic.
    private(set) var ids: [UInt64] = []
    private var matchScratch: [UInt64] = []

    init(maxInflight: Int) { self.maxInflight = maxInflight }

    var confState: ConfState { ConfState(voters: voters.sorted(), learners: learners.sorted()) }

    var isSingleton: Bool { voters.count == 1 }

    /// Refreshes cached orderings; call after any change to voters, learners or progress keys.
    mutating func membershipChanged() {
        sortedVoters = voters.sorted()
        ids = progress.keys.sorted()
    }

    /// The largest index stored on a quorum of voters.
    mutating func committed() -> UInt64 {
        let n = sortedVoters.count
        if n == 0 { return UInt64.max }
        matchScratch.removeAll(keepingCapacity: true)
        for id in sortedVoters { matchScratch.append(progress[id]?.match ?? 0) }
        matchScratch.sort()
        // With matches ascending, the entry at n - quorum is held by at least a quorum.
        return matchScratch[n - (n / 2 + 1)]
    }

    func quorumActive() -> Bool {
        var active = 0
        for id in voters where progress[id]?.recentActive == true { active += 1 }
        return active >= voters.count / 2 + 1
    }

    mutating func resetVotes() { votes.removeAll(keepingCapacity: true) }

    mutating func recordVote(_ id: UInt64, _ granted: Bool) {
        if votes[id] == nil { votes[id] = granted }
    }

    func tallyVotes() -> (granted: Int, rejected: Int, result: VoteResult) {
        var granted = 0
        var rejected = 0
        for id in voters {
            if let v = votes[id] {
                if v { granted += 1 } else { rejected += 1 }
            }
        }
        let q = voters.count / 2 + 1
        let result: VoteResult
        if granted >= q {
            result = .won
        } else if voters.count - rejected < q {
            result = .lost
        } else {
            result = .pending
        }
        return (granted, rejected, result)
    }

}
