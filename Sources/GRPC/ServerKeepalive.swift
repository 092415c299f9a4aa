/// grpc-go's server keepalive, as etcd configures it (`--grpc-keepalive-min-time`, `-interval`,
/// `-timeout`). A state machine without a clock or socket: the connection handler tells it what
/// happened and when, and does what it answers.
///
/// - Enforcement: a client that pings more often than `minTime` while it has calls open (or more
///   than once in two hours without any) earns a strike, unless the server sent headers or data
///   since its last ping; the third strike past two closes the connection with GOAWAY
///   ENHANCE_YOUR_CALM "too_many_pings".
/// - Server pings: after `interval` without reading anything, the server pings; if nothing is read
///   within `timeout` after that, it closes the connection.
public struct ServerKeepalive: Sendable {
    public struct Options: Sendable, Equatable {
        /// The least time between a client's pings (etcd: 5 s). Zero leaves grpc-go's own policy,
        /// five minutes.
        public var minTime: Duration
        /// Idle time before the server pings (etcd: 2 h); zero, or a zero `timeout`, sends none.
        public var interval: Duration
        /// How long the server waits for any frame after its ping (etcd: 20 s).
        public var timeout: Duration

        public init(minTime: Duration = .seconds(5), interval: Duration = .seconds(7200), timeout: Duration = .seconds(20)) {
            self.minTime = minTime
            self.interval = interval
            self.timeout = timeout
        }

        var pings: Bool { interval > .zero && timeout > .zero }
        var effectiveMinTime: Duration { minTime > .zero ? minTime : .seconds(300) }
    }

    /// What the connection does when the keepalive timer fires.
    public enum TimerAction: Equatable, Sendable {
        /// Arm the timer again after this long.
        case wait(Duration)
        /// Send a PING, then arm the timer after this long.
        case ping(then: Duration)
        /// Nothing was read after the ping: close the connection.
        case close
    }

    /// grpc-go's maxPingStrikes: strikes beyond it close the connection.
    static let maxStrikes = 2
    /// Pings without calls open are expected at most this often (grpc-go's defaultPingTimeout).
    static let idlePingPeriod = Duration.seconds(7200)

    public let options: Options
    private var lastPing: ContinuousClock.Instant?
    private var strikes = 0
    private var resetStrikes = false
    private var lastRead: ContinuousClock.Instant
    private var readSeen: ContinuousClock.Instant
    private var outstandingPing = false
    private var timeoutLeft = Duration.zero

    public init(options: Options, now: ContinuousClock.Instant) {
        self.options = options
        lastRead = now
        readSeen = now
    }

    /// When the timer should first fire, or nil when the server sends no pings.
    public var firstTimer: Duration? { options.pings ? options.interval : nil }

    /// Headers or data went to the client: its next ping is not held against it.
    public mutating func sentHeadersOrData() { resetStrikes = true }

    /// Something was read from the client.
    public mutating func read(at now: ContinuousClock.Instant) { lastRead = now }

    /// The client pinged; true when the connection must be closed with GOAWAY ENHANCE_YOUR_CALM.
    public mutating func pingReceived(at now: ContinuousClock.Instant, openCalls: Int) -> Bool {
        defer { lastPing = now }
        if resetStrikes {
            resetStrikes = false
            strikes = 0
            return false
        }
        let least = openCalls < 1 ? Self.idlePingPeriod : options.effectiveMinTime
        if let last = lastPing, last + least > now { strikes += 1 }
        return strikes > Self.maxStrikes
    }

    /// The keepalive timer fired.
    public mutating func timerFired(at now: ContinuousClock.Instant) -> TimerAction {
        if lastRead > readSeen {
            // Read since the timer was armed: wait out an interval from that read.
            readSeen = lastRead
            outstandingPing = false
            return .wait(max(lastRead + options.interval - now, .zero))
        }
        if outstandingPing && timeoutLeft <= .zero { return .close }
        var ping = false
        if !outstandingPing {
            ping = true
            outstandingPing = true
            timeoutLeft = options.timeout
        }
        let sleep = min(options.interval, timeoutLeft)
        timeoutLeft -= sleep
        return ping ? .ping(then: sleep) : .wait(sleep)
    }
}
