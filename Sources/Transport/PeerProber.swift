// etcd's peer health prober (rafthttp's use of xiang90/probing): every 4 s a GET /raft/probing to
// the peer keeps a smoothed round-trip time; a monitor puts that SRTT into
// etcd_network_peer_round_trip_time_seconds 5 s after the start and then every 30 s (every 5 s, with
// a warning, while the peer is unhealthy). etcd runs two such probers per peer, one over its
// pipeline round tripper and one over its stream round tripper, both feeding the same histogram.
import EtcdMetrics
import Logging
import NIOCore
import TLS

/// A prober's view of one peer (probing's status), without clocks or I/O.
struct ProbeStatus: Equatable {
    /// probing's α: SRTT = (1-α)·SRTT + α·RTT.
    static let alpha = 0.125

    /// Smoothed round-trip time in seconds; starts at zero, as probing's does.
    private(set) var srtt = 0.0
    private(set) var healthy = false
    private(set) var lastError: String?
    private(set) var total = 0
    private(set) var losses = 0

    mutating func record(rtt: Double) {
        total += 1
        healthy = true
        srtt = (1 - Self.alpha) * srtt + Self.alpha * rtt
        lastError = nil
    }

    mutating func recordFailure(_ error: String) {
        total += 1
        losses += 1
        healthy = false
        lastError = error
    }
}

/// What the monitor does on its tick: the value to observe and when to look again.
struct ProbeMonitor {
    static let probeInterval = TimeAmount.seconds(4)  // rafthttp: ConnReadTimeout - 1 s
    static let healthyInterval = TimeAmount.seconds(30)
    static let errorInterval = TimeAmount.seconds(5)

    /// The next monitor delay after seeing `status`; the observation happens either way.
    static func nextInterval(after status: ProbeStatus) -> TimeAmount {
        status.healthy ? healthyInterval : errorInterval
    }
}

/// Probes one peer over keep-alive connections of its own. Confined to `loop`.
final class PeerProber: @unchecked Sendable {
    let name: String
    private let peerID: UInt64
    private let loop: any EventLoop
    private let ctx: TransportContext
    private let client: PooledClient
    private let meters: PeerMeters
    private var urls: [PeerURL]
    /// probing pins one URL and moves to the next after a failure.
    private var pinned = 0
    private(set) var status = ProbeStatus()
    private var probeTask: RepeatedTask?
    private var monitorTask: Scheduled<Void>?
    private var stopped = false

    /// `name` is etcd's round-tripper name, as its warnings spell it.
    init(name: String, peerID: UInt64, urls: [PeerURL], loop: any EventLoop, ctx: TransportContext, meters: PeerMeters) {
        self.name = name
        self.peerID = peerID
        self.urls = urls
        self.loop = loop
        self.ctx = ctx
        self.meters = meters
        client = PooledClient(tls: ctx.tls)
    }

    func start() {
        loop.preconditionInEventLoop()
        guard probeTask == nil, !stopped else { return }
        probeTask = loop.scheduleRepeatedTask(initialDelay: ProbeMonitor.probeInterval, delay: ProbeMonitor.probeInterval) {
            [weak self] _ in self?.probe()
        }
        scheduleMonitor(in: ProbeMonitor.errorInterval)
    }

    func update(urls: [PeerURL]) {
        self.urls = urls
        pinned = 0
    }

    func stop() {
        stopped = true
        probeTask?.cancel()
        monitorTask?.cancel()
        probeTask = nil
        monitorTask = nil
        client.closeAll()
    }

    private func probe() {
        guard !stopped, !urls.isEmpty else { return }
        let url = urls[pinned % urls.count]
        let start = NIODeadline.now()
        let limit = TimeAmount.milliseconds(ctx.limits.dialTimeout)
        client.request(on: loop, url: url, method: .GET, path: "/raft/probing", headers: [], body: ByteBuffer(),
                       connectTimeout: limit, timeout: ProbeMonitor.probeInterval).whenComplete { [self] result in
            guard !stopped else { return }
            switch result {
            case .failure(let error):
                failed(GoTLSText.describe(error))
            case .success(let r) where r.status != 200:
                failed("got unexpected HTTP status code \(r.status) from \(url.original)/raft/probing")
            case .success(let r) where !Self.isHealthy(r.body):
                failed("unexpected probing answer from \(url.original)/raft/probing")
            case .success:
                let elapsed = NIODeadline.now() - start
                status.record(rtt: Double(elapsed.nanoseconds) / 1e9)
            }
        }
    }

    private func failed(_ error: String) {
        status.recordFailure(error)
        if !urls.isEmpty { pinned = (pinned + 1) % urls.count }
    }

    /// probing.Health's `"OK":true` (Go's encoder writes no spaces).
    static func isHealthy(_ body: [UInt8]) -> Bool {
        let needle = Array("\"OK\":true".utf8)
        guard body.count >= needle.count else { return false }
        return (0...(body.count - needle.count)).contains { body[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    private func scheduleMonitor(in delay: TimeAmount) {
        monitorTask = loop.scheduleTask(in: delay) { [weak self] in self?.monitor() }
    }

    private func monitor() {
        guard !stopped else { return }
        if !status.healthy {
            ctx.logger.warning("prober detected unhealthy status", metadata: [
                "round-tripper-name": "\(name)", "remote-peer-id": "\(EtcdID.hex(peerID))",
                "rtt": "\(status.srtt)s", "error": "\(status.lastError ?? "<nil>")",
            ])
        }
        meters.roundTrip.record(status.srtt)
        scheduleMonitor(in: ProbeMonitor.nextInterval(after: status))
    }
}
