// Shared per-transport context, per-peer activity status and URL choice.
import EtcdMetrics
import Logging
import NIOCore
import Synchronization
import TLS

#if canImport(Glibc)
import Glibc
#endif

/// Immutable configuration plus the few values that change (cluster id and version), read by
/// every peer and inbound connection.
final class TransportContext: Sendable {
    let localID: UInt64
    let localPeerURLs: [String]
    let serverVersion: String
    let minClusterVersion = "3.0.0"
    let localSemVer: SemVer
    let minClusterSemVer = SemVer(major: 3, minor: 0, patch: 0)
    let snapDir: String
    let handler: any PeerHandler
    let limits: TransportLimits
    let logger: Logger
    let validator: InboundValidator
    /// Peer TLS for https URLs (listeners and outgoing connections); nil: http only.
    let tls: TLSEndpoint?
    private let mutable: Mutex<(clusterID: UInt64, clusterVersion: String?)>

    init(localID: UInt64, clusterID: UInt64, localPeerURLs: [String], serverVersion: String, clusterVersion: String?,
         snapDir: String, handler: any PeerHandler, limits: TransportLimits, logger: Logger, tls: TLSEndpoint?) {
        self.localID = localID
        self.localPeerURLs = localPeerURLs
        self.serverVersion = serverVersion
        self.localSemVer = SemVer(serverVersion) ?? SemVer(major: 3, minor: 4, patch: 0)
        self.snapDir = snapDir
        self.handler = handler
        self.limits = limits
        self.logger = logger
        self.validator = InboundValidator(localID: localID)
        self.tls = tls
        self.mutable = Mutex((clusterID, clusterVersion))
    }

    var clusterID: UInt64 {
        get { mutable.withLock { $0.clusterID } }
        set { mutable.withLock { $0.clusterID = newValue } }
    }

    var clusterVersion: String? {
        get { mutable.withLock { $0.clusterVersion } }
        set { mutable.withLock { $0.clusterVersion = newValue } }
    }

    var localHex: String { EtcdID.hex(localID) }

    func requestHeaders() -> [(String, String)] {
        PeerProtocol.requestHeaders(localID: localID, clusterID: clusterID, serverVersion: serverVersion,
                                    minClusterVersion: minClusterVersion, peerURLs: localPeerURLs)
    }
}

/// peerStatus: whether any connection to the peer works, and since when (wall clock, for
/// `activeSince`). Read from any thread.
final class PeerActivity: Sendable {
    private let state = Mutex<(active: Bool, since: Int64)>((false, 0))
    private let peerID: UInt64
    private let localID: UInt64
    private let logger: Logger

    init(peerID: UInt64, localID: UInt64, logger: Logger) {
        self.peerID = peerID
        self.localID = localID
        self.logger = logger
    }

    func activate() {
        let changed = state.withLock { s -> Bool in
            if s.active { return false }
            s = (true, Self.nowUnixNanos())
            return true
        }
        if changed {
            logger.info("peer became active", metadata: ["peer-id": "\(EtcdID.hex(peerID))"])
            Meters.peerStatusChanged(local: localID, remote: peerID, active: true)
        }
    }

    func deactivate(source: String, action: String, reason: String) {
        let changed = state.withLock { s -> Bool in
            if !s.active { return false }
            s = (false, 0)
            return true
        }
        let error = "failed to \(action) \(EtcdID.hex(peerID)) on \(source) (\(reason))"
        if changed {
            Meters.peerStatusChanged(local: localID, remote: peerID, active: false)
            logger.warning("peer became inactive (message send to peer failed)",
                           metadata: ["peer-id": "\(EtcdID.hex(peerID))", "error": "\(error)"])
        } else {
            logger.debug("peer deactivated again", metadata: ["peer-id": "\(EtcdID.hex(peerID))", "error": "\(error)"])
        }
    }

    var isActive: Bool { state.withLock { $0.active } }
    /// Unix time in nanoseconds when the peer became active, nil while inactive.
    var activeSince: Int64? { state.withLock { $0.active ? $0.since : nil } }

    static func nowUnixNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// A parsed peer URL (http only for now; https is refused until TLS is wired).
struct PeerURL: Sendable, Equatable {
    var scheme: String
    var host: String
    var port: Int
    var original: String
    /// For unix and unixs URLs, the socket file (relative to the working directory, as in etcd).
    var socketPath: String?

    /// https or unixs: the connection carries TLS.
    var isSecure: Bool { scheme == "https" || scheme == "unixs" }

    init?(_ s: String) {
        let parts = s.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        scheme = parts[0].lowercased()
        var rest = parts[1]
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard ["http", "https", "unix", "unixs"].contains(scheme) else { return nil }
        // A unix URL names a socket file: its whole host part, as etcd dials and listens on it.
        socketPath = scheme.hasPrefix("unix") ? String(rest) : nil
        let hostPort: (Substring, Substring?)
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            let after = rest[rest.index(after: close)...]
            hostPort = (rest[rest.index(after: rest.startIndex)..<close], after.hasPrefix(":") ? after.dropFirst() : nil)
        } else if let colon = rest.lastIndex(of: ":") {
            hostPort = (rest[..<colon], rest[rest.index(after: colon)...])
        } else {
            hostPort = (rest, nil)
        }
        guard !hostPort.0.isEmpty else { return nil }
        host = String(hostPort.0)
        if let p = hostPort.1 {
            guard let n = Int(p), n > 0, n < 65536 else { return nil }
            port = n
        } else {
            port = scheme == "https" || scheme == "unixs" ? 443 : 80
        }
        original = s.hasSuffix("/") ? String(s.dropLast()) : s
    }

    /// Host header value.
    var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// urlPicker: keep using one URL until it fails, then move to the next. Loop-confined.
struct URLPicker {
    private(set) var urls: [PeerURL]
    private var picked = 0

    init(_ urls: [PeerURL]) { self.urls = urls }

    mutating func update(_ new: [PeerURL]) {
        urls = new
        picked = 0
    }

    func pick() -> PeerURL? { urls.isEmpty ? nil : urls[picked % urls.count] }

    mutating func unreachable(_ u: PeerURL) {
        if !urls.isEmpty, urls[picked % urls.count] == u { picked = (picked + 1) % urls.count }
    }
}
