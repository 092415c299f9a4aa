import EtcdMetrics
import EtcdProto
import Foundation
import Logging
import Raft
import NIOCore
import Synchronization
import Transport

/// Durable storage of raft's log and hard state (the WAL), written by the driver thread only.
protocol DurableLog: AnyObject {
    /// Appends `entries` (replacing any stored tail from their first index) and the hard state;
    /// durable before returning when `sync`.
    func save(hardState: HardState?, entries: [Entry], sync: Bool) throws
    /// Drops the log before `index`, whose effects the backend holds durably.
    func release(through index: UInt64, term: UInt64) throws
    /// Records a snapshot received from the leader, durably, ahead of the entries after it.
    func saveSnapshot(index: UInt64, term: UInt64) throws
}

/// Where the driver hands messages for other members (the peer transport).
protocol MessageSender: AnyObject, Sendable {
    func send(_ messages: [Message])
    /// Streams `message` followed by the backend copy at `dbPath` (removed by the driver once
    /// the transport reports the outcome).
    func sendSnapshot(_ message: Message, dbPath: String)
}

/// What the rest of the member may ask of raft, handled in order on the raft loop.
enum DriverInput: Sendable {
    case propose([UInt8])
    /// A membership change (etcd's `raftpb.ConfChange` bytes).
    case proposeConfChange([UInt8])
    /// A committed membership change the applier accepted: raft's configuration takes it.
    case applyConfChange(ConfChange)
    case step(Message)
    case tick
    /// Raft's election clock moved on by this many ticks at once (etcd's initial tick advance).
    case advanceTicks(Int)
    /// Starts a ReadIndex round for the reads queued in `LinearizableReads`.
    case readIndex
    case unreachable(UInt64)
    case snapshotStatus(UInt64, failed: Bool)
    case transferLeader(UInt64)
    /// Hands leadership to the voter whose log matches the leader's furthest (graceful stop).
    case transferToBestFollower
    /// The backend holds everything through this index durably: snapshot the log there.
    case snapshot(UInt64)
    /// A backend copy at `index` is ready for the follower `message` is addressed to.
    case sendSnapshot(Message, dbPath: String, index: UInt64, data: [UInt8])
}

/// The state other threads read about raft: leader, term, indexes.
struct RaftStatus: Sendable {
    var leader: UInt64 = 0
    var term: UInt64 = 0
    var committed: UInt64 = 0
    var isLeader = false
    var voters: [UInt64] = []
    var leaderChanges = 0
    /// When the current leader was elected (for "possibly due to previous leader failure").
    var leaderElected: ContinuousClock.Instant?
}

/// Owns the `RawNode`, the WAL and the tick clock. Each `Ready`: the leader hands
/// its messages to the transport at once (followers persist in parallel with it, as etcd's leader
/// does); the WAL appends the entries and hard state with one fdatasync; a follower sends its
/// messages only after that; committed entries go to the applier; then `advance`. A WAL error
/// stops the member.
///
/// The driver runs on one NIO event loop of its own, which the peer transport shares: messages
/// from peers are stepped and messages to peers written on that one thread, with no hand-off
/// between a socket thread and a raft thread (the fsync blocks only peer I/O, as it blocks etcd's
/// raft goroutine).
///
/// `@unchecked Sendable`: `node`, `raftStorage`, `held`, `pending`, `snapshotsInFlight` are
/// touched only on `loop`; `status` guards itself.
final class RaftDriver: @unchecked Sendable {
    private let node: RawNode
    let raftStorage: MemoryStorage
    private let log: DurableLog
    private let applier: Applier
    private let registry: ProposalRegistry
    let reads: LinearizableReads
    private let logger: Logger
    private let tickInterval: Duration
    private let electionTicks: Int
    private let requestTimeout: Duration
    private let fatal: @Sendable (String) -> Never
    /// The raft loop: every input is handled there, in order.
    let loop: any EventLoop
    private let accepting = Atomic<Bool>(true)
    /// Proposals of the current loop tick, proposed together (one entry batch, one fsync).
    private var pending: [[UInt8]] = []
    private var readyScheduled = false
    private var ticker: RepeatedTask?
    let status: Mutex<RaftStatus>
    /// Set once before start: the transport (nil for a single member).
    var sender: MessageSender?
    /// Called on the driver thread when this member gains (true) or loses (false) leadership.
    var onLeadership: (@Sendable (Bool) -> Void)?
    /// Proposals raft could not take (no leader yet), retried when one appears.
    private var held: [(data: [UInt8], deadline: ContinuousClock.Instant)] = []
    /// Followers a snapshot is being made or sent for, with the backend copy's path.
    private var snapshotsInFlight: [UInt64: String] = [:]
    private var heartbeats: HeartbeatTimeouts
    /// Set once before start: where backend copies for followers are written.
    var snapDir: String?
    /// Entries kept behind a log snapshot for slow followers (etcd's 5000).
    static let catchUpEntries: UInt64 = 5000

    init(node: RawNode, raftStorage: MemoryStorage, log: DurableLog, applier: Applier, registry: ProposalRegistry,
         reads: LinearizableReads, options: ServerOptions, loop: any EventLoop, logger: Logger,
         fatal: @escaping @Sendable (String) -> Never) {
        self.node = node
        self.loop = loop
        self.raftStorage = raftStorage
        self.log = log
        self.applier = applier
        self.registry = registry
        self.reads = reads
        self.logger = logger
        self.fatal = fatal
        tickInterval = .milliseconds(max(options.heartbeatMs, 1))
        heartbeats = HeartbeatTimeouts(heartbeatMs: options.heartbeatMs)
        electionTicks = options.electionTicks
        requestTimeout = options.requestTimeout
        status = Mutex(RaftStatus(term: node.term, committed: node.committed, voters: node.status.confState.voters))
    }

    func start() {
        loop.execute { [self] in
            // etcd's initial election tick advance: a lone voter need not wait out a whole
            // election timeout before leading.
            if node.status.confState.voters == [node.id] { advanceTicks(electionTicks - 1) }
            processReady()
        }
        let interval = TimeAmount.nanoseconds(Int64(tickInterval.components.seconds) * 1_000_000_000
            + tickInterval.components.attoseconds / 1_000_000_000)
        ticker = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in handle(.tick) }
    }

    /// Hands an input to the raft loop; false once the driver is stopping.
    @discardableResult
    func submit(_ input: DriverInput) -> Bool {
        guard accepting.load(ordering: .acquiring) else { return false }
        if loop.inEventLoop {
            handle(input)
        } else {
            loop.execute { [self] in handle(input) }
        }
        return true
    }

    /// The leader's view of every member's log (nil on a follower: only a leader tracks it).
    func progress() async -> [UInt64: PeerStatus]? {
        try? await loop.submit { [self] () -> [UInt64: PeerStatus]? in
            let st = node.status
            return st.softState.raftState == .leader ? st.progress : nil
        }.get()
    }

    /// Stops taking inputs; what was handed in is persisted and given to the applier first.
    func stop() {
        accepting.store(false, ordering: .releasing)
        try? loop.submit { [self] in
            ticker?.cancel()
            ticker = nil
            flushProposals()
            processReady()
        }.wait()
    }

    // MARK: Raft loop

    private func handle(_ input: DriverInput) {
        switch input {
        case .propose(let data): pending.append(data)
        case .proposeConfChange(let data):
            // Refused while no leader is known; the proposer's wait then times out, as in etcd.
            do { try node.proposeConfChange(data: data) } catch {
                logger.warning("dropped a configuration change proposal: \(error)")
            }
        case .applyConfChange(let cc):
            let cs = node.applyConfChange(cc)
            status.withLock { $0.voters = cs.voters }
        case .step(let m): step(m)
        case .tick: tick()
        case .advanceTicks(let n): advanceTicks(n)
        case .readIndex: reads.startRound { node.readIndex(context: $0) }
        case .unreachable(let id): node.reportUnreachable(id)
        case .snapshotStatus(let id, let failed): snapshotReported(id, failed: failed)
        case .sendSnapshot(let m, let path, let index, let data): sendSnapshot(m, dbPath: path, index: index, data: data)
        case .transferLeader(let id): node.transferLeader(to: id)
        case .transferToBestFollower: transferToBestFollower()
        case .snapshot(let index): snapshot(at: index)
        }
        // Everything handed in during this loop tick is taken in before the Ready is processed,
        // so concurrent proposals share one append and one fsync.
        if !readyScheduled {
            readyScheduled = true
            loop.execute { [self] in
                readyScheduled = false
                flushProposals()
                processReady()
            }
        }
    }

    private func flushProposals() {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending = []
        propose(batch)
    }

    private func transferToBestFollower() {
        let status = node.status
        guard status.softState.raftState == .leader else { return }
        let best = status.progress.filter { $0.key != node.id && !$0.value.isLearner }.max { $0.value.match < $1.value.match }
        if let best { node.transferLeader(to: best.key) }
    }

    /// Moves raft's election clock on at once (etcd's advanceTicks), without the driver's own
    /// per-tick work (request deadlines, read rounds).
    private func advanceTicks(_ n: Int) {
        for _ in 0..<max(n, 0) { node.tick() }
    }

    private func step(_ m: Message) {
        do { try node.step(m) } catch {
            logger.debug("dropped \(m.type) from \(Identity.hex(m.from)): \(error)")
        }
    }

    private func tick() {
        node.tick()
        let now = ContinuousClock.now
        if !held.isEmpty { held.removeAll { $0.deadline <= now } }
        let elected = status.withLock { $0.leaderElected }
        registry.expire(now: now) { waiter in
            Self.timeoutError(started: waiter.deadline - requestTimeout, leaderElected: elected,
                                     electionTimeout: tickInterval * (2 * electionTicks))
        }
        reads.tick(now: now) { node.readIndex(context: $0) }
    }

    /// etcd's parseProposeCtxErr: a timeout that began shortly before a new leader was elected is
    /// blamed on the previous leader's failure.
    static func timeoutError(started: ContinuousClock.Instant, leaderElected: ContinuousClock.Instant?,
                             electionTimeout: Duration) -> ServerError {
        if let elected = leaderElected, started > elected - electionTimeout, started < elected {
            return .timeoutDueToLeaderFail
        }
        return .timeout
    }

    private func propose(_ proposals: [[UInt8]]) {
        do {
            try node.propose(batch: proposals)
        } catch {
            // No leader known (an election is under way): keep them until one appears.
            let deadline = ContinuousClock.now + requestTimeout
            held.append(contentsOf: proposals.map { ($0, deadline) })
        }
    }

    private func processReady() {
        while node.hasReady() {
            let rd = node.ready()
            if let ss = rd.softState { leadershipChanged(ss) }
            // A leader whose term and vote are durable sends its appends while it writes its own
            // log; everyone else sends only after the fsync. A leader's appends that carry no
            // entries (a new commit index for the followers) wait until the entries they commit
            // are applied: the proposers' answers then do not queue behind two peer writes.
            let early = rd.canSendBeforePersisting
            var messages = outgoing(rd.messages)
            var afterApply: [Message] = []
            if early, !rd.committedEntries.isEmpty {
                afterApply = messages.filter(Self.onlyAdvancesCommit)
                if !afterApply.isEmpty { messages.removeAll(where: Self.onlyAdvancesCommit) }
            }
            noteHeartbeats(messages)
            if early, !messages.isEmpty { sender?.send(messages) }
            do {
                if let snap = rd.snapshot { try log.saveSnapshot(index: snap.metadata.index, term: snap.metadata.term) }
                try log.save(hardState: rd.hardState, entries: rd.entries, sync: rd.mustSync)
            } catch {
                fatal("failed to write the WAL: \(error)")
            }
            if let snap = rd.snapshot {
                do { try raftStorage.applySnapshot(snap) } catch { fatal("cannot restore raft's log from the snapshot at \(snap.metadata.index): \(error)") }
                applier.enqueue(.snapshot(snap.metadata))
            }
            raftStorage.append(rd.entries)
            if let hs = rd.hardState { raftStorage.setHardState(hs) }
            if !early, !messages.isEmpty { sender?.send(messages) }
            // Published before the applier can answer anything this Ready commits.
            let committed = node.committed
            let term = node.term
            status.withLock {
                $0.committed = committed
                $0.term = term
            }
            if !rd.readStates.isEmpty {
                reads.resolve(rd.readStates, applier: applier)
                // Reads that queued while that round was out go in the next one now.
                reads.startRound { node.readIndex(context: $0) }
            }
            if !rd.committedEntries.isEmpty {
                // Membership changes reach raft's configuration from the applier, once it has
                // validated them against the membership (`.applyConfChange`), as etcd applies them.
                applier.applyCommitted(rd.committedEntries)
            }
            if !afterApply.isEmpty { sender?.send(afterApply) }
            node.advance(rd)
        }
    }

    /// An append with no entries: it only tells a follower the new commit index.
    private static func onlyAdvancesCommit(_ m: Message) -> Bool { m.type == .app && m.entries.isEmpty }

    /// Messages for peers. A snapshot goes its own way: the applier exports the backend as bbolt at
    /// its applied index with the v2 store JSON (etcd's merged snapshot), then `sendSnapshot`
    /// streams it; one at a time per follower (raft waits for the report before it asks again).
    private func noteHeartbeats(_ messages: [Message]) {
        var now: UInt64?
        for m in messages where m.type == .heartbeat {
            let t = now ?? Meters.now()
            now = t
            guard let late = heartbeats.observe(m.to, now: t) else { continue }
            logger.warning("leader failed to send out heartbeat on time; took too long, leader is overloaded likely from slow disk",
                           metadata: ["to": "\(Identity.hex(m.to))", "heartbeat-interval": "\(heartbeats.limitNanos / 2_000_000)ms",
                                      "expected-duration": "\(heartbeats.limitNanos / 1_000_000)ms", "exceeded-duration": "\(late / 1_000_000)ms"])
            Meters.heartbeatSendFailures.increment()
        }
    }

    private func outgoing(_ messages: [Message]) -> [Message] {
        guard messages.contains(where: { $0.type == .snap }) else { return messages }
        var rest: [Message] = []
        for m in messages {
            guard m.type == .snap else {
                rest.append(m)
                continue
            }
            guard snapshotsInFlight[m.to] == nil, let snapDir else { continue }
            snapshotsInFlight[m.to] = ""
            applier.enqueue(.work { [applier, self] in
                if let copy = applier.exportSnapshot(for: m.to, snapDir: snapDir) {
                    if !submit(.sendSnapshot(m, dbPath: copy.path, index: copy.index, data: copy.data)) {
                        try? FileManager.default.removeItem(atPath: copy.path)
                    }
                } else {
                    submit(.snapshotStatus(m.to, failed: true))
                }
            })
        }
        return rest
    }

    private func sendSnapshot(_ m: Message, dbPath: String, index: UInt64, data: [UInt8]) {
        guard let term = try? raftStorage.term(index), let sender else {
            try? FileManager.default.removeItem(atPath: dbPath)
            snapshotReported(m.to, failed: true)
            return
        }
        var message = m
        message.snapshot = Snapshot(data: data, metadata: SnapshotMetadata(confState: node.status.confState, index: index, term: term))
        snapshotsInFlight[m.to] = dbPath
        logger.info("sending database snapshot at index \(index) to \(Identity.hex(m.to))")
        sender.sendSnapshot(message, dbPath: dbPath)
    }

    private func snapshotReported(_ id: UInt64, failed: Bool) {
        node.reportSnapshot(id, status: failed ? .failure : .finish)
        if let path = snapshotsInFlight.removeValue(forKey: id), !path.isEmpty {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    private func leadershipChanged(_ ss: SoftState) {
        let (previous, wasLeader) = status.withLock { s -> (UInt64, Bool) in
            let before = (s.leader, s.isLeader)
            s.leader = ss.lead
            s.isLeader = ss.raftState == .leader
            if ss.lead != 0 && ss.lead != before.0 {
                s.leaderChanges += 1
                Meters.leaderChanges.increment()
                s.leaderElected = .now
            }
            return before
        }
        let me = node.id
        if ss.lead != previous {
            heartbeats.reset()
            if ss.lead == 0 {
                logger.info("raft.node: \(Identity.hex(me)) lost leader \(Identity.hex(previous)) at term \(node.term)")
            } else if previous == 0 {
                logger.info("raft.node: \(Identity.hex(me)) elected leader \(Identity.hex(ss.lead)) at term \(node.term)")
            } else {
                logger.info("raft.node: \(Identity.hex(me)) changed leader from \(Identity.hex(previous)) to \(Identity.hex(ss.lead)) at term \(node.term)")
            }
            if previous != 0 {
                // Proposals forwarded to the old leader may be lost with it: answer now rather
                // than at the request timeout, as etcd's clients expect.
                registry.failOnLeaderChange()
                reads.failRound(.leaderChanged)
            }
            if ss.lead != 0, !held.isEmpty {
                let retry = held.map(\.data)
                held.removeAll()
                propose(retry)
            }
        }
        let leading = ss.raftState == .leader
        if leading != wasLeader { onLeadership?(leading) }
    }

    /// Snapshots the log at `index` (the backend is synced through it): a WAL snapshot record,
    /// older WAL segments released, and the in-memory log compacted keeping catch-up entries.
    private func snapshot(at index: UInt64) {
        guard let term = try? raftStorage.term(index) else { return }
        do {
            try log.release(through: index, term: term)
        } catch {
            fatal("failed to save a snapshot at \(index): \(error)")
        }
        let cs = node.status.confState
        _ = try? raftStorage.createSnapshot(index, confState: cs, data: [])
        if index > Self.catchUpEntries {
            let compactIndex = index - Self.catchUpEntries
            if let first = try? raftStorage.firstIndex(), compactIndex > first {
                try? raftStorage.compact(compactIndex)
                logger.info("compacted Raft logs at index \(compactIndex)")
            }
        }
    }
}
