import Raft

/// Parameters of one simulated run.
public struct SimOptions: Sendable {
    public var seed: UInt64
    /// Initial voters (3 or 5).
    public var nodes: Int = 3
    /// Faulty steps before healing.
    public var steps: Int = 200
    /// Steps allowed after healing for a leader to emerge and everything to be applied.
    public var healSteps: Int = 400
    public var dropRate: Double = 0.05
    public var duplicateRate: Double = 0.03
    public var maxDelay: Int = 3
    /// Probability per step of a fault or admin event (partition, crash, membership, ...).
    public var eventRate: Double = 0.08
    public var membershipChanges = true
    public var crashes = true
    public var compaction = true
    /// Check the leader commit rule (§5.4.2) directly, besides its safety consequences.
    public var checkCommitRule = true
    /// nil: decided by the seed.
    public var preVote: Bool? = nil
    public var checkQuorum: Bool? = nil
    /// Handle `Ready`s the pipelined way etcd 3.4's raftNode does: a write takes
    /// 0...`maxPersistDelay` steps (a leader's at least one) during which the node keeps
    /// stepping messages; a leader's messages leave before its write completes when the `Ready`
    /// allows it (`canSendBeforePersisting`), committed entries are applied before it when
    /// allowed (`canApplyBeforePersisting`); a crash loses the write in progress, and crashes
    /// prefer nodes with one. The state machine is then durable (etcd's backend).
    public var asyncPersistence = false
    public var maxPersistDelay = 4
    /// Persist each node into a real WAL (`Storage.WAL`, one per node in a temporary directory)
    /// the way the server does, instead of only into raft's `MemoryStorage`; a crash loses what
    /// was not synced (or lets some of it reach the disk, with a torn record after it) and a
    /// restart rebuilds the node's `MemoryStorage` from `WAL.open`. See `SimDisk`.
    public var wal = false
    /// WAL segment size (nil: 1 KiB, 4 KiB or 32 KiB by seed, so segments are cut and released).
    public var walSegmentSize: Int? = nil
    /// Where the temporary WAL directories go (nil: /dev/shm when writable, else $TMPDIR or /tmp).
    public var walDirectory: String? = nil

    public init(seed: UInt64, nodes: Int = 3, steps: Int = 200) {
        self.seed = seed
        self.nodes = nodes
        self.steps = steps
    }
}

/// Counters of what a run exercised, to check that the schedules are not vacuous.
public struct SimStats: Sendable {
    public var delivered = 0
    public var committedEntries: UInt64 = 0
    public var leaders = 0
    public var crashes = 0
    public var partitions = 0
    public var snapshotsSent = 0
    public var confChangesApplied = 0
    public var readsAnswered = 0
    public var transfers = 0
    /// asyncPersistence: `Ready`s whose messages left before their write was durable.
    public var earlySends = 0
    /// asyncPersistence: writes lost in a crash, and those of them whose messages had left.
    public var lostWrites = 0
    public var lostEarlySentWrites = 0
    /// wal: WAL syncs; records lost in crashes (appended, not synced) and those that reached the
    /// disk anyway; torn records written at crashes; restarts that installed a snapshot received
    /// before the crash (the WAL's snapshot record ahead of the backend); segments cut and
    /// released.
    public var walSyncs = 0
    public var walLostRecords = 0
    public var walSurvivedRecords = 0
    public var walTornTails = 0
    public var walInstalledOnRestart = 0
    public var walSegmentsCut = 0
    public var walSegmentsReleased = 0

    public init() {}

    /// Adds `s` to these totals.
    public mutating func add(_ s: SimStats) {
        delivered += s.delivered
        committedEntries += s.committedEntries
        leaders += s.leaders
        crashes += s.crashes
        partitions += s.partitions
        snapshotsSent += s.snapshotsSent
        confChangesApplied += s.confChangesApplied
        readsAnswered += s.readsAnswered
        transfers += s.transfers
        earlySends += s.earlySends
        lostWrites += s.lostWrites
        lostEarlySentWrites += s.lostEarlySentWrites
        walSyncs += s.walSyncs
        walLostRecords += s.walLostRecords
        walSurvivedRecords += s.walSurvivedRecords
        walTornTails += s.walTornTails
        walInstalledOnRestart += s.walInstalledOnRestart
        walSegmentsCut += s.walSegmentsCut
        walSegmentsReleased += s.walSegmentsReleased
    }
}

/// A deterministic simulation of a raft cluster under faults. The same options always produce
/// the same schedule, so a failing seed is a reproducible test case.
public final class Simulation {
    public let options: SimOptions
    public internal(set) var nodes: [UInt64: SimNode] = [:]
    public internal(set) var network = SimNetwork()
    public internal(set) var stats = SimStats()
    var rng: SplitMix64
    var checker = InvariantChecker()
    var now = 0
    var nextProposal: UInt64 = 1
    var nextRead: UInt64 = 1
    var nextNodeID: UInt64
    /// Outstanding reads: context -> the highest committed index when the read was issued.
    var pendingReads: [[UInt8]: UInt64] = [:]
    var failure: String?
    var logsChanged = true
    /// Print every delivered message from this step on (debugging aid for raft-sim --trace).
    public var traceFrom: Int? = nil
    /// The event rate of this run: the option scaled by the seed, for calm and stormy schedules.
    var eventRate: Double { options.eventRate * [0.5, 1, 2][Int((options.seed / 16) % 3)] }
    /// The liveness write proposed after healing, and whether it was applied.
    var marker: [UInt8]? = nil
    var markerApplied = false
    /// Largest number of steps a write takes (asyncPersistence); 0 once healed.
    var persistDelay: Int
    /// wal: the directory holding one WAL directory per node.
    let walRoot: SimTempDir?
    let walSegmentSize: Int

    public init(options: SimOptions) throws {
        self.options = options
        rng = SplitMix64(seed: options.seed &* 0x9E37_79B9_7F4A_7C15 &+ 1)
        persistDelay = options.maxPersistDelay
        walRoot = options.wal ? try SimTempDir(base: options.walDirectory) : nil
        walSegmentSize = options.walSegmentSize ?? [1024, 4096, 32768][Int((options.seed / 7) % 3)]
        network.dropRate = options.dropRate
        network.duplicateRate = options.duplicateRate
        network.maxDelay = options.maxDelay
        let voters = (1...UInt64(options.nodes)).map { $0 }
        nextNodeID = UInt64(options.nodes) + 1
        for id in voters {
            let n = try makeNode(id, confState: ConfState(voters: voters))
            try n.start()
            nodes[id] = n
        }
    }

    deinit {
        for n in nodes.values { n.disk?.close() }
    }

    func makeNode(_ id: UInt64, confState: ConfState) throws -> SimNode {
        let disk = try walRoot.map {
            try SimDisk(dir: $0.path + "/node-\(id)", id: id, segmentSize: walSegmentSize, founding: confState)
        }
        let n = SimNode(id: id, confState: confState, config: makeConfig(id), disk: disk)
        n.durableStateMachine = options.asyncPersistence
        return n
    }

    /// WAL counters of every node (`SimStats.wal*`).
    func collectWALStats() {
        let disks = nodes.values.compactMap(\.disk)
        if disks.isEmpty { return }
        func sum(_ k: KeyPath<SimDisk, Int>) -> Int { disks.reduce(0) { $0 + $1[keyPath: k] } }
        stats.walSyncs = sum(\.syncs)
        stats.walLostRecords = sum(\.lostRecords)
        stats.walSurvivedRecords = sum(\.survivedRecords)
        stats.walTornTails = sum(\.tornTails)
        stats.walInstalledOnRestart = sum(\.installedOnRestart)
        stats.walSegmentsCut = sum(\.segmentsCut)
        stats.walSegmentsReleased = sum(\.segmentsReleased)
    }

    /// Crashes `n`. With a WAL, what its unsynced records become is drawn here: lost (half the
    /// time), on disk, or a prefix of them on disk followed by a torn record.
    func crashNode(_ n: SimNode) {
        if let w = n.inflight {
            stats.lostWrites += 1
            if w.sent { stats.lostEarlySentWrites += 1 }
        }
        stats.crashes += 1
        var mode = SimDisk.CrashMode.loseUnsynced
        if let d = n.disk {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: mode = .unsyncedSurvive
            case 1:
                let keep = Int.random(in: 0...d.unsynced.count, using: &rng)
                mode = .tornTail(keep: keep, garbage: SimDisk.tornRecord(size: Int.random(in: 12...64, using: &rng), rng: &rng))
            default: break
            }
        }
        do { try n.crash(mode) } catch { fail("crash of \(n.id): \(error)") }
    }

    func makeConfig(_ id: UInt64) -> RaftConfig {
        var c = RaftConfig(id: id, electionTick: 10, heartbeatTick: 1, randomSeed: options.seed &+ id &* 7919)
        c.preVote = options.preVote ?? (options.seed % 2 == 0)
        c.checkQuorum = options.checkQuorum ?? ((options.seed / 2) % 2 == 0)
        // From one entry per message up to large batches.
        c.maxSizePerMsg = [1, 64, 256, 1 << 20][Int((options.seed / 4) % 4)]
        c.maxInflightMsgs = 4
        return c
    }

    var sortedIDs: [UInt64] { nodes.keys.sorted() }
    var liveNodes: [SimNode] { sortedIDs.compactMap { nodes[$0] }.filter { $0.isUp } }

    func fail(_ msg: String) { if failure == nil { failure = msg } }

    /// Runs the faulty phase, heals everything, and checks liveness. Returns the first violation.
    public func run() -> SimFailure? {
        defer { collectWALStats() }
        for _ in 0..<options.steps {
            step(faults: true)
            if let f = failure { return SimFailure(seed: options.seed, step: now, message: f) }
        }
        return heal()
    }

    /// One step: maybe an event, random ticks, delivery of due messages, then `Ready` handling
    /// and the safety checks.
    func step(faults: Bool) {
        now += 1
        if faults && Double.random(in: 0..<1, using: &rng) < eventRate { randomEvent() }
        if Double.random(in: 0..<1, using: &rng) < (faults ? 0.3 : 0.1) {
            // Bursts make logs diverge by several entries between leaders.
            for _ in 0..<Int.random(in: 1...3, using: &rng) { propose() }
        }
        if faults && Double.random(in: 0..<1, using: &rng) < 0.05 { issueRead() }
        if options.wal {
            // The applier finishes installing a received snapshot (the backend notes it) some
            // time after the WAL recorded it; a crash may come first.
            for n in liveNodes where n.disk!.pendingNote != nil {
                switch Int.random(in: 0..<8, using: &rng) {
                case 0, 1: n.disk!.notePending()
                case 2 where faults && options.crashes: crashNode(n)
                default: break
                }
            }
        }
        for n in liveNodes where !faults || Double.random(in: 0..<1, using: &rng) < 0.7 {
            n.raft!.tick()
        }
        processAll()
        // Once healed, the network is fast compared with a tick: several round trips per step.
        for _ in 0..<(faults ? 1 : 8) {
            let (deliver, lost) = network.due(now: now, rng: &rng)
            for m in lost { lose(m) }
            for m in deliver {
                deliverMessage(m)
            }
            processAll()
            checkSafety()
            if network.queue.isEmpty { break }
        }
    }

    func deliverMessage(_ m: Message) {
        guard let n = nodes[m.to], let r = n.raft, !n.removed else {
            lose(m)
            return
        }
        if let s = nodes[m.from], s.removed { return } // peers ignore removed members
        stats.delivered += 1
        if let t = traceFrom, now >= t {
            print("t=\(now) \(m.from)->\(m.to) \(m.type) term=\(m.term) idx=\(m.index) lt=\(m.logTerm) commit=\(m.commit) n=\(m.entries.count) rej=\(m.reject) hint=\(m.rejectHint)")
        }
        _ = try? r.step(m)
        if m.type == .snap, let s = nodes[m.from]?.raft {
            stats.snapshotsSent += 1
            s.reportSnapshot(m.to, status: .finish)
        }
        process(n)
    }

    func lose(_ m: Message) {
        guard let s = nodes[m.from]?.raft else { return }
        if m.type == .snap { s.reportSnapshot(m.to, status: .failure) }
        if m.type == .app && Double.random(in: 0..<1, using: &rng) < 0.3 { s.reportUnreachable(m.to) }
    }

    func processAll() {
        for n in liveNodes { process(n) }
    }

    /// Handles `Ready`s as the contract says: persist, send, apply, advance.
    func process(_ n: SimNode) {
        if options.asyncPersistence {
            processPipelined(n)
            return
        }
        while let r = n.raft, r.hasReady() {
            let rd = r.ready()
            persist(n, rd)
            send(rd.messages)
            if !apply(n, rd) { return }
            r.advance(rd)
            if r.isLeader, let e = checker.observeLeader(n.id, term: r.term) { fail(e) }
        }
    }

    /// etcd 3.4's raftNode order: take a `Ready`, send at once if it allows (leader), hand the
    /// committed entries to the applier at once if it allows, write (taking some steps), then
    /// send and apply what waited for the write, and advance.
    func processPipelined(_ n: SimNode) {
        while let r = n.raft {
            if let w = n.inflight {
                if w.doneAt > now { return }
                n.inflight = nil
                persist(n, w.ready)
                if !w.sent { send(w.ready.messages) }
                if !w.applied && !apply(n, w.ready) { return }
                r.advance(w.ready)
                if r.isLeader, let e = checker.observeLeader(n.id, term: r.term) { fail(e) }
                continue
            }
            guard r.hasReady() else { return }
            let rd = r.ready()
            let delay = persistDelay == 0 ? 0 : Int.random(in: (r.isLeader ? 1 : 0)...persistDelay, using: &rng)
            var w = SimNode.InflightWrite(ready: rd, doneAt: now + delay, sent: false, applied: false)
            if rd.canSendBeforePersisting && !rd.messages.isEmpty {
                send(rd.messages)
                w.sent = true
                stats.earlySends += 1
            }
            if rd.canApplyBeforePersisting {
                if !apply(n, rd) { return }
                w.applied = true
            }
            n.inflight = w
        }
    }

    /// Step 1: makes `rd` durable (and restores the state machine from its snapshot).
    func persist(_ n: SimNode, _ rd: Ready) {
        do {
            // The WAL first, then raft's storage (RaftDriver.processReady).
            try n.disk?.save(rd)
            if let s = rd.snapshot {
                try n.storage.applySnapshot(s)
                n.restore(s)
                logsChanged = true
                if let e = checker.observeApplied(node: n.id, index: n.applied, checksum: n.checksum) { fail(e) }
            }
            if !rd.entries.isEmpty {
                n.storage.append(rd.entries)
                logsChanged = true
            }
            if let hs = rd.hardState {
                n.storage.setHardState(hs)
                observeCommit(n, hs)
            }
        } catch {
            fail("storage error on node \(n.id): \(error)")
        }
    }

    func send(_ msgs: [Message]) {
        for m in msgs {
            if let s = nodes[m.to], s.removed { continue }
            if !network.send(m, now: now, rng: &rng) { lose(m) }
        }
    }

    /// Applies the committed entries and answers the reads of `rd`; false when the node was
    /// removed from the cluster (it is then stopped).
    func apply(_ n: SimNode, _ rd: Ready) -> Bool {
        for e in rd.committedEntries { applyEntry(n, e) }
        for rs in rd.readStates { answerRead(n, rs) }
        if n.removed {
            do { try n.crash() } catch { fail("stop of removed node \(n.id): \(error)") }
            return false
        }
        return true
    }

    func observeCommit(_ n: SimNode, _ hs: HardState) {
        let first = (try? n.storage.firstIndex()) ?? 1
        if options.checkCommitRule, let r = n.raft, r.isLeader, hs.commit > n.persistedCommit, hs.commit >= first,
           let t = try? n.storage.term(hs.commit), t != hs.term {
            // Raft §5.4.2: a leader commits by counting replicas only entries of its own term.
            fail("commit rule: leader \(n.id) of term \(hs.term) advanced commit to \(hs.commit), an entry of term \(t)")
        }
        let from = max(n.persistedCommit + 1, first)
        if hs.commit >= from, let ents = try? n.storage.entries(from, hs.commit + 1, maxSize: Int.max) {
            for e in ents {
                if let err = checker.observeCommitted(e, byNodeAtTerm: hs.term) { fail(err) }
            }
            stats.committedEntries = max(stats.committedEntries, hs.commit)
        }
        n.persistedCommit = max(n.persistedCommit, hs.commit)
    }

    func applyEntry(_ n: SimNode, _ e: Entry) {
        if e.index <= n.applied {
            // Already in the durable state machine: only raft's membership must be rebuilt.
            if e.type == .confChange, let cc = ConfChangeCodec.decode(e.data), let r = n.raft { r.applyConfChange(cc) }
            return
        }
        if e.index != n.applied + 1 { fail("node \(n.id) applied \(e.index) after \(n.applied)") }
        // What a node applies (and could acknowledge to a client) must never be lost.
        if let r = n.raft, let err = checker.observeCommitted(e, byNodeAtTerm: r.term) { fail(err) }
        n.apply(e)
        if let m = marker, e.data == m { markerApplied = true }
        if let err = checker.observeApplied(node: n.id, index: e.index, checksum: n.checksum) { fail(err) }
        guard e.type == .confChange, let cc = ConfChangeCodec.decode(e.data), let r = n.raft else { return }
        n.setConfState(r.applyConfChange(cc))
        stats.confChangesApplied += 1
        if cc.type == .removeNode, let gone = nodes[cc.nodeID] {
            // As etcd's server does, a removed member stops and its peers ignore it.
            gone.removed = true
            if gone !== n {
                do { try gone.crash() } catch { fail("stop of removed node \(gone.id): \(error)") }
            }
        }
    }

    func answerRead(_ n: SimNode, _ rs: ReadState) {
        guard let mustSee = pendingReads.removeValue(forKey: rs.requestCtx) else { return }
        stats.readsAnswered += 1
        if rs.index < mustSee {
            fail("linearizability: read on node \(n.id) got index \(rs.index) but \(mustSee) was committed before it was issued")
        }
    }

    func checkSafety() {
        let all = sortedIDs.compactMap { nodes[$0] }
        for n in all {
            guard let r = n.raft, r.isLeader else { continue }
            if let e = checker.observeLeader(n.id, term: r.term) { fail(e) }
            if let e = checker.checkLeaderCompleteness(n, term: r.term) { fail(e) }
        }
        if logsChanged {
            logsChanged = false
            for i in 0..<all.count {
                for j in (i + 1)..<all.count {
                    if let e = InvariantChecker.checkLogMatching(all[i], all[j]) { fail(e) }
                }
            }
        }
    }

    // MARK: workload

    var leaderNode: SimNode? {
        liveNodes.filter { $0.raft!.isLeader }.max { $0.raft!.term < $1.raft!.term }
    }

    func propose() {
        guard let n = liveNodes.randomElement(using: &rng) else { return }
        propose(at: n)
    }

    func propose(at n: SimNode) {
        var data: [UInt8] = []
        Varint8.append(nextProposal, &data)
        nextProposal += 1
        _ = try? n.raft!.propose(data)
        process(n)
    }

    func issueRead() {
        guard let n = liveNodes.randomElement(using: &rng) else { return }
        var ctx: [UInt8] = [0x52]
        Varint8.append(nextRead, &ctx)
        nextRead += 1
        pendingReads[ctx] = checker.maxCommitted
        n.raft!.readIndex(context: ctx)
        process(n)
    }
}

enum Varint8 {
    static func append(_ v: UInt64, _ out: inout [UInt8]) {
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}
