import TLS
/// What a member needs to know to start: the subset of etcd's configuration the server uses.
/// The Config module fills it from flags, `ETCD_*` variables or a config file.
public struct ServerOptions: Sendable {
    public var name: String = "default"
    public var dataDir: String = "default.etcd"
    public var clusterToken: String = "etcd-cluster"
    /// `--initial-cluster`, as (member name, peer URLs).
    public var initialCluster: [(name: String, peerURLs: [String])] = [("default", ["http://localhost:2380"])]
    public var advertisePeerURLs: [String] = ["http://localhost:2380"]
    public var advertiseClientURLs: [String] = ["http://localhost:2379"]
    public var maxTxnOps: Int = 128
    public var maxRequestBytes: Int = 1_572_864
    /// `--max-concurrent-streams`: streams one client connection may have open (etcd's default: no limit).
    public var maxConcurrentStreams: UInt32 = .max
    /// `--grpc-keepalive-min-time`, `-interval`, `-timeout` (etcd's defaults).
    public var grpcKeepaliveMinTime = Duration.seconds(5)
    public var grpcKeepaliveInterval = Duration.seconds(7200)
    public var grpcKeepaliveTimeout = Duration.seconds(20)
    /// 0 means etcd's default, 2 GiB.
    public var quotaBackendBytes: Int = 0
    public var snapshotCount: Int = 100_000
    /// WAL segment size (etcd's 64 MB); tests make it small to see segments released.
    public var walSegmentBytes: Int = 64 * 1024 * 1024
    /// `--max-wals`: WAL files kept; released segments beyond it are deleted (0: keep all).
    public var maxWALs: Int = 5
    /// `--unsafe-no-fsync`: neither the WAL nor the backend waits for the disk (tests; data loss
    /// on a crash of the machine).
    public var unsafeNoFsync = false
    public var heartbeatMs: Int = 100
    public var electionTimeoutMs: Int = 1000
    /// `--strict-reconfig-check`: refuse membership changes that could cost the quorum.
    public var strictReconfigCheck = true
    /// `--pre-vote`: raft's pre-election, so a partitioned member rejoining does not disrupt the leader.
    public var preVote = false
    /// `--initial-election-tick-advance`: once its peers are connected, a member of several
    /// fast-forwards its election clock, so the first election needs no whole timeout.
    public var initialElectionTickAdvance = true
    /// `--force-new-cluster`: a member with a WAL restarts as the only member of its cluster.
    public var forceNewCluster = false
    /// `--initial-cluster-state existing`: join a running cluster instead of bootstrapping one.
    public var joinExisting = false
    /// The running cluster a new member joins (fetched from its peers before the member starts).
    public var existingCluster: ExistingCluster?
    /// TLS for https peer URLs: this member's calls to its peers outside raft's streams.
    public var peerTLS: TLSEndpoint?
    /// `--auth-token`: "simple", "jwt,..." or "".
    public var authToken: String = "simple"
    /// `--auth-token-ttl` in seconds (simple tokens).
    public var authTokenTTL: Int = 300
    public var bcryptCost: Int = 10
    /// `--experimental-corrupt-check-time`: the leader's corruption check period (zero: never).
    public var corruptCheckInterval: Duration = .zero
    /// `--metrics extensive`: gRPC handling-time histograms too.
    public var extensiveMetrics = false
    /// `--experimental-watch-progress-notify-interval` (etcd's default when not set: 10 minutes).
    public var watchProgressNotifyInterval: Duration = .seconds(600)
    /// `--client-cert-auth`: a call without a token acts as its client certificate's common name.
    public var clientCertAuth = false

    /// etcd's request timeout: 5 s plus two election timeouts.
    public var requestTimeout: Duration { .seconds(5) + .milliseconds(2 * electionTimeoutMs) }

    /// Election timeout in ticks of the heartbeat interval.
    public var electionTicks: Int { heartbeatMs > 0 ? max(electionTimeoutMs / heartbeatMs, 2) : 10 }

    /// etcd's minimum lease TTL: 1.5 election timeouts (counted in whole heartbeats), in seconds,
    /// rounded up, so a lease cannot expire during a leader election.
    public var minLeaseTTL: Int64 {
        let ticks = heartbeatMs > 0 ? electionTimeoutMs / heartbeatMs : 10
        let ms = (3 * ticks / 2) * heartbeatMs
        return Int64((ms + 999) / 1000)
    }

    public init() {}
}
