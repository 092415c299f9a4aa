import Prometheus
import Synchronization

/// The byte counters and round-trip histogram of one peer (etcd's rafthttp metrics, labelled by
/// the peer's hexadecimal id). Its owner makes it once per peer and keeps it.
public final class PeerMeters: Sendable {
    public let sent: Counter
    public let received: Counter
    public let roundTrip: ValueHistogram
    private let hex: String

    /// etcd's ExponentialBuckets(0.0001, 2, 16): 0.1 ms to 3.2768 s.
    static let rttBuckets = Meters.exponentialBuckets(start: 0.0001, factor: 2, count: 16)

    /// The metrics of the peer with id `id` (the registry hands back the same objects for the same id).
    public init(id: UInt64) {
        let hex = String(id, radix: 16)
        self.hex = hex
        sent = Meters.registry.counter(name: "etcd_network_peer_sent_bytes_total", labels: [("To", hex)],
                                           help: "The total number of bytes sent to peers.")
        received = Meters.registry.counter(name: "etcd_network_peer_received_bytes_total", labels: [("From", hex)],
                                               help: "The total number of bytes received from peers.")
        roundTrip = Meters.registry.histogram(
            name: "etcd_network_peer_round_trip_time_seconds", labels: [("To", hex)], buckets: Self.rttBuckets,
            help: "Round-Trip-Time histogram between peers")
    }

    /// A message to the peer that never left (dropped, or its post or stream write failed).
    /// Go's vector shows the series from its first failure on, so it is made then.
    public func sendFailed() {
        Meters.registry.counter(name: "etcd_network_peer_sent_failures_total", labels: [("To", hex)],
                                help: "The total number of send failures from peers.").increment()
    }
}

extension Meters {
    /// A peer message that could not be read or decoded (rafthttp's recvFailures). etcd labels a
    /// failed pipeline or snapshot post with the connection's remote address ("ip:port") and a
    /// stream message dropped on a full receive buffer with the sender's id; made on first use.
    public static func peerReceiveFailed(from: String) {
        registry.counter(name: "etcd_network_peer_received_failures_total", labels: [("From", from)],
                         help: "The total number of receive failures from peers.").increment()
    }

    /// etcd_network_active_peers and etcd_network_disconnected_peers_total, moved when a peer's
    /// status flips (rafthttp's peerStatus); made on the first flip, as Go's vectors are.
    public static func peerStatusChanged(local: UInt64, remote: UInt64, active: Bool) {
        let labels = [("Local", String(local, radix: 16)), ("Remote", String(remote, radix: 16))]
        let gauge = registry.gauge(name: "etcd_network_active_peers", labels: labels,
                                   help: "The current number of active peer connections.")
        if active {
            gauge.increment()
        } else {
            gauge.decrement()
            registry.counter(name: "etcd_network_disconnected_peers_total", labels: labels,
                             help: "The total number of disconnected peers.").increment()
        }
    }
}

/// go-grpc-prometheus' server metrics of one gRPC method, made when the method is registered (as
/// its `Register` pre-initialises every method with every code), so a call only adds to atomics.
public final class GRPCMethodMeters: Sendable {
    public let started: Counter
    /// Indexed by the numeric gRPC status code (0...16).
    public let handled: [Counter]
    public let received: Counter
    public let sent: Counter
    /// Only with `--metrics extensive` (go-grpc-prometheus' EnableHandlingTimeHistogram).
    public let handling: ValueHistogram?

    /// grpc-go's code names, by code number, as the grpc_code label spells them.
    public static let codeNames = [
        "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
        "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
        "Internal", "Unavailable", "DataLoss", "Unauthenticated",
    ]
    /// Prometheus' DefBuckets.
    static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// `type` is go-grpc-prometheus' grpc_type: unary, client_stream, server_stream, bidi_stream.
    public init(service: String, method: String, type: String, handlingTime: Bool) {
        let labels = [("grpc_method", method), ("grpc_service", service), ("grpc_type", type)]
        let r = Meters.registry
        started = r.counter(name: "grpc_server_started_total", labels: labels,
                                help: "Total number of RPCs started on the server.")
        handled = Self.codeNames.map { code in
            r.counter(name: "grpc_server_handled_total", labels: [("grpc_code", code)] + labels,
                          help: "Total number of RPCs completed on the server, regardless of success or failure.")
        }
        received = r.counter(name: "grpc_server_msg_received_total", labels: labels,
                                 help: "Total number of RPC stream messages received on the server.")
        sent = r.counter(name: "grpc_server_msg_sent_total", labels: labels,
                             help: "Total number of gRPC stream messages sent by the server.")
        handling = handlingTime
            ? r.histogram(
                name: "grpc_server_handling_seconds", labels: labels, buckets: Self.defaultBuckets,
                help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.")
            : nil
    }
}

extension Meters {
    private static let infoGauges = Mutex<[String: (value: String, gauge: Gauge)]>([:])

    /// Sets a gauge family that names its value in a label (etcd_server_version, etcd_server_id,
    /// etcd_cluster_version): the current label value reads 1 and a previous one is removed.
    static func setInfo(_ name: String, label: String, value: String, help: String) {
        infoGauges.withLock { gauges in
            if let current = gauges[name] {
                if current.value == value { return }
                registry.unregisterGauge(current.gauge)
            }
            let g = registry.gauge(name: name, labels: [(label, value)], help: help)
            g.set(to: 1)
            gauges[name] = (value, g)
        }
    }

    public static func setServerVersion(_ version: String) {
        setInfo("etcd_server_version", label: "server_version", value: version, help: serverVersionHelp)
    }

    public static func setServerID(_ id: UInt64) {
        setInfo("etcd_server_id", label: "server_id", value: String(id, radix: 16), help: serverIDHelp)
    }

    /// The cluster version as etcd labels it (major.minor); nothing before it is decided.
    public static func setClusterVersion(_ version: String) {
        guard !version.isEmpty else { return }
        setInfo("etcd_cluster_version", label: "cluster_version", value: version, help: clusterVersionHelp)
    }
}

/// rafthttp's snapshot series, labelled with the peer's hexadecimal id ("To" for sends, "From" for
/// receives); like Go's vectors, a series appears on its first use.
public enum SnapshotMeters {
    /// etcd's ExponentialBuckets(0.1, 2, 10): 100 ms to 51.2 s.
    static let buckets = Meters.exponentialBuckets(start: 0.1, factor: 2, count: 10)

    public enum Direction: Sendable {
        case send, receive
        var label: String { self == .send ? "To" : "From" }
        var verb: String { self == .send ? "send" : "receive" }
        var noun: String { self == .send ? "sends" : "receives" }
    }

    /// A snapshot post started (+1) or ended (-1).
    public static func inflight(_ d: Direction, peer: String, _ delta: Int) {
        let g = Meters.registry.gauge(name: "etcd_network_snapshot_\(d.verb)_inflights_total", labels: [(d.label, peer)],
                                      help: "Total number of inflight snapshot \(d.noun)")
        if delta > 0 { g.increment() } else { g.decrement() }
    }

    public static func failed(_ d: Direction, peer: String) {
        Meters.registry.counter(name: "etcd_network_snapshot_\(d.verb)_failures", labels: [(d.label, peer)],
                                help: "Total number of snapshot \(d.verb) failures").increment()
    }

    public static func succeeded(_ d: Direction, peer: String, seconds: Double) {
        Meters.registry.counter(name: "etcd_network_snapshot_\(d.verb)_success", labels: [(d.label, peer)],
                                help: "Total number of successful snapshot \(d.noun)").increment()
        Meters.registry.histogram(name: "etcd_network_snapshot_\(d.verb)_total_duration_seconds", labels: [(d.label, peer)],
                                  buckets: buckets, help: "Total latency distributions of v3 snapshot \(d.noun)").record(seconds)
    }
}
