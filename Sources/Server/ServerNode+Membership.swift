import EtcdProto
import Foundation
import Raft

/// The Cluster service's changes and leader transfer (etcd's `AddMember`, `RemoveMember`,
/// `UpdateMember`, `PromoteMember`, `MoveLeader`): checked as etcd checks them before proposing
/// (root only when auth is on, as etcd's checkMembershipOperationPermission; not MoveLeader),
/// proposed as `raftpb.ConfChange` entries, validated again when applied (`Membership.validate`),
/// and answered with the members after the change.
extension ServerNode {
    /// etcd's HealthInterval: peers must have been connected this long for a change to be safe.
    static let healthInterval: Duration = .seconds(5)
    /// A learner is in sync once its log matches 90% of the leader's.
    static let learnerReadyFraction = 0.9

    /// Adds a voter, or a learner. Returns the new member and the members after the change.
    public func addMember(peerURLs: [String], isLearner: Bool) async throws(ServerError) -> (Member, [Member]) {
        try await checkAdmin()
        let urls = peerURLs.sorted()
        // etcd names a new member after its URLs and the time (no cluster token).
        let id = Identity.memberID(peerURLs: urls, clusterToken: "", unixTime: Int64(Date().timeIntervalSince1970))
        let member = Member(id: id, peerURLs: peerURLs, isLearner: isLearner)
        if options.strictReconfigCheck && !isLearner {
            guard readyToAddVoter() else { throw .memberNotEnoughStarted }
            guard connectedToAllVoters(since: .now - Self.healthInterval) else { throw .unhealthy }
        }
        var change = Raftpb_ConfChange()
        change.type = isLearner ? .confChangeAddLearnerNode : .confChangeAddNode
        change.nodeID = id
        change.context = Array(member.json.utf8)
        return (member, try await configure(change))
    }

    public func removeMember(id: UInt64) async throws(ServerError) -> [Member] {
        try await checkAdmin()
        if options.strictReconfigCheck, let m = membership.member(id), !m.isLearner {
            guard readyToRemoveVoter(id) else { throw .memberNotEnoughStarted }
            // A member that is down is no part of the active quorum: removing it is safe.
            if id == memberID || activeSince(id) != nil {
                let voters = membership.members.filter { !$0.isLearner }
                let active = connectedVoters(since: .now - Self.healthInterval)
                if active - 1 < 1 + (voters.count - 1) / 2 { throw .unhealthy }
            }
        }
        var change = Raftpb_ConfChange()
        change.type = .confChangeRemoveNode
        change.nodeID = id
        return try await configure(change)
    }

    public func updateMember(id: UInt64, peerURLs: [String]) async throws(ServerError) -> [Member] {
        try await checkAdmin()
        var change = Raftpb_ConfChange()
        change.type = .confChangeUpdateNode
        change.nodeID = id
        change.context = Array(Member(id: id, peerURLs: peerURLs).json.utf8)
        return try await configure(change)
    }

    /// Promotes a learner if this member leads (only the leader knows whether the learner is in
    /// sync), else throws `.notLeader`; `promoteMember` forwards to the leader then.
    func promoteAsLeader(id: UInt64) async throws(ServerError) -> [Member] {
        guard let progress = await driver.progress() else { throw .notLeader }
        if let learner = progress[id] {
            let leaderMatch = progress[memberID]?.match ?? 0
            if Double(learner.match) < Double(leaderMatch) * Self.learnerReadyFraction { throw .learnerNotReady }
        }
        if options.strictReconfigCheck {
            let voters = membership.members.filter { !$0.isLearner }
            let members = voters.count + 1
            let started = voters.filter { !$0.name.isEmpty }.count + 1
            if started < members / 2 + 1 { throw .memberNotEnoughStarted }
        }
        var change = Raftpb_ConfChange()
        change.type = .confChangeAddNode
        change.nodeID = id
        change.context = Array("{\"id\":\(id),\"peerURLs\":null,\"isPromote\":true}".utf8)
        return try await configure(change)
    }

    /// Hands leadership to `target` (a voter) and waits until it leads; only on the leader.
    public func moveLeader(to target: UInt64) async throws(ServerError) {
        guard isLeader else { throw .notLeader }
        guard let m = membership.member(target), !m.isLearner else { throw .badLeaderTransferee }
        if target == memberID { return }
        let lead = memberID
        logger.info("leadership transfer starting", metadata: [
            "local-member-id": "\(Identity.hex(memberID))", "current-leader-member-id": "\(Identity.hex(lead))",
            "transferee-member-id": "\(Identity.hex(target))",
        ])
        let started = ContinuousClock.now
        let deadline = started + options.requestTimeout
        driver.submit(.transferLeader(target))
        while leader != target {
            if ContinuousClock.now >= deadline { throw .leaderTransferTimeout }
            try? await Task.sleep(for: .milliseconds(options.heartbeatMs))
        }
        logger.info("leadership transfer finished", metadata: [
            "local-member-id": "\(Identity.hex(memberID))", "old-leader-member-id": "\(Identity.hex(lead))",
            "new-leader-member-id": "\(Identity.hex(target))", "took": "\(ContinuousClock.now - started)",
        ])
    }

    /// Proposes a membership change and waits until this member applied it.
    private func configure(_ change: Raftpb_ConfChange) async throws(ServerError) -> [Member] {
        var change = change
        let id = nextID()
        change.id = id
        let data = change.serializedBytes()
        let deadline = ContinuousClock.now + options.requestTimeout
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<ApplyResult, Never>) in
            registry.register(id: id, .init(request: Etcdserverpb_InternalRaftRequest(), deadline: deadline,
                                            completion: { continuation.resume(returning: $0) }, survivesLeaderChange: true))
            if !driver.submit(.proposeConfChange(data)) { registry.fail(id, .stopped) }
        }
        switch result {
        case .members(let members):
            logger.info("applied a configuration change through raft", metadata: [
                "local-member-id": "\(Identity.hex(memberID))", "raft-conf-change": "\(change.type ?? .confChangeAddNode)",
                "raft-conf-change-node-id": "\(Identity.hex(change.nodeID ?? 0))",
            ])
            return members
        case .failure(let error): throw error
        default: throw .internal("unexpected result of a configuration change")
        }
    }

    // MARK: Health of the cluster (etcd's IsReadyTo* and isConnected*Since)

    /// A started member has published its name.
    private func readyToAddVoter() -> Bool {
        let voters = membership.members.filter { !$0.isLearner }
        let members = voters.count + 1
        let started = voters.filter { !$0.name.isEmpty }.count
        // Adding a second member to a lone one (restoring a cluster from a backup).
        if started == 1 && members == 2 { return true }
        return started >= members / 2 + 1
    }

    private func readyToRemoveVoter(_ id: UInt64) -> Bool {
        let rest = membership.members.filter { !$0.isLearner && $0.id != id }
        return rest.filter { !$0.name.isEmpty }.count >= rest.count / 2 + 1
    }

    private func activeSince(_ id: UInt64) -> Date? {
        guard let ns = peerTransport.withLock({ $0 })?.activeSince(id) else { return nil }
        return Date(timeIntervalSince1970: Double(ns) / 1e9)
    }

    /// Voters (this member included) connected to this member since before `since`.
    private func connectedVoters(since: ContinuousClock.Instant) -> Int {
        let cutoff = Date().addingTimeInterval(-Double((ContinuousClock.now - since).components.seconds))
        return membership.members.filter { !$0.isLearner }.filter { m in
            if m.id == memberID { return true }
            guard let t = activeSince(m.id) else { return false }
            return t < cutoff
        }.count
    }

    private func connectedToAllVoters(since: ContinuousClock.Instant) -> Bool {
        connectedVoters(since: since) == membership.members.filter { !$0.isLearner }.count
    }

    // MARK: Applied changes

    /// A change the applier accepted reaches raft's configuration, and the transport learns of
    /// the member it concerns (unless replayed: the transport starts from the stored members).
    func confChangeApplied(_ cc: ConfChange, replayed: Bool) {
        driver.submit(.applyConfChange(cc))
        guard !replayed, let transport = peerTransport.withLock({ $0 }) else { return }
        switch cc.type {
        case .addNode, .addLearnerNode:
            guard cc.nodeID != memberID, let m = membership.member(cc.nodeID) else { return }
            transport.addPeer(id: m.id, urls: m.peerURLs)
        case .removeNode:
            if cc.nodeID == memberID {
                removedFromCluster()
            } else {
                transport.removePeer(id: cc.nodeID)
            }
        case .updateNode:
            guard cc.nodeID != memberID, let m = membership.member(cc.nodeID) else { return }
            transport.updatePeer(id: m.id, urls: m.peerURLs)
        }
    }

    /// This member was removed (its own removal applied, or a peer answered 410 Gone): it stops
    /// serving, as etcd's member does, and its data dir must not be used again.
    func removedFromCluster() {
        let first = removed.withLock { r -> Bool in
            defer { r = true }
            return !r
        }
        guard first else { return }
        logger.warning("server error", metadata: ["error": "the member has been permanently removed from the cluster"])
        logger.warning("data-dir used by this member must be removed")
        onRemoved.withLock { $0 }?()
    }
}
