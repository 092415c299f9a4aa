// The HTTP face of rafthttp as pure functions: routes, header names, version and cluster checks,
// and the exact answers etcd gives, so that the channel handlers only move bytes.
import NIOHTTP1

public enum PeerHeader {
    public static let clusterID = "X-Etcd-Cluster-ID"
    public static let serverFrom = "X-Server-From"
    public static let serverVersion = "X-Server-Version"
    public static let minClusterVersion = "X-Min-Cluster-Version"
    public static let raftTo = "X-Raft-To"
    public static let peerURLs = "X-PeerURLs"
}

/// major.minor.patch with any pre-release/build suffix ignored (only major.minor is compared).
public struct SemVer: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int, minor: Int, patch: Int

    public init(major: Int, minor: Int, patch: Int) {
        (self.major, self.minor, self.patch) = (major, minor, patch)
    }

    public init?(_ s: String) {
        let core = s.split(whereSeparator: { $0 == "-" || $0 == "+" }).first ?? ""
        let parts = core.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let a = Int(parts[0]), let b = Int(parts[1]), let c = Int(parts[2]),
              a >= 0, b >= 0, c >= 0 else { return nil }
        self.init(major: a, minor: b, patch: c)
    }

    public static func < (l: SemVer, r: SemVer) -> Bool { (l.major, l.minor, l.patch) < (r.major, r.minor, r.patch) }
    public var description: String { "\(major).\(minor).\(patch)" }
    var majorMinor: SemVer { SemVer(major: major, minor: minor, patch: 0) }
}

/// The two 412 bodies a sender recognises (rafthttp errIncompatibleVersion/errClusterIDMismatch).
public enum CompatibilityError: String, Error, Sendable {
    case incompatibleVersion = "incompatible version"
    case clusterIDMismatch = "cluster ID mismatch"
}

/// An HTTP answer: status, extra headers and body bytes.
public struct PeerAnswer: Sendable, Equatable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        (self.status, self.headers, self.body) = (status, headers, body)
    }

    /// Go's http.Error: the message plus a newline, as text.
    public static func error(_ status: Int, _ message: String) -> PeerAnswer {
        PeerAnswer(status: status, headers: [("Content-Type", "text/plain; charset=utf-8"),
                                             ("X-Content-Type-Options", "nosniff")],
                   body: Array((message + "\n").utf8))
    }

    public static func json(_ status: Int, _ body: [UInt8]) -> PeerAnswer {
        PeerAnswer(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    static let notFound = error(404, "404 page not found")
    static func methodNotAllowed(allow: String?) -> PeerAnswer {
        var a = error(405, "Method Not Allowed")
        if let allow { a.headers.insert(("Allow", allow), at: 0) }
        return a
    }

    public static func == (l: PeerAnswer, r: PeerAnswer) -> Bool {
        l.status == r.status && l.body == r.body && l.headers.map { "\($0.0): \($0.1)" } == r.headers.map { "\($0.0): \($0.1)" }
    }
}

/// The two stream kinds. Note the msgappv2 stream's URL says "msgapp" (streamType.endpoint()).
public enum StreamKind: String, Sendable, CaseIterable {
    case msgAppV2 = "msgappv2"
    case message

    public var endpoint: String { self == .msgAppV2 ? "/raft/stream/msgapp" : "/raft/stream/message" }
    /// streamType.String(), used in etcd's log fields.
    public var logName: String { self == .msgAppV2 ? "stream MsgApp v2" : "stream Message" }
}

/// What a peer URL path is served by (etcdhttp peer mux + rafthttp mux).
public enum PeerRoute: Sendable, Equatable {
    case pipeline, stream, snapshot, probing, members, version, leases, leasesInternal, notFound
    /// POST /members/promote/<id as the client sent it> (etcd's peerMemberPromoteHandler).
    case promote(String)
    /// GET /members/hashkv (etcd's hashKVHandler, for corruption checks).
    case hashKV

    public init(path: Substring) {
        switch path {
        case "/raft": self = .pipeline
        case "/raft/snapshot": self = .snapshot
        case "/raft/probing": self = .probing
        case "/members": self = .members
        case "/version": self = .version
        case "/leases": self = .leases
        case "/leases/internal": self = .leasesInternal
        case "/members/hashkv": self = .hashKV
        default:
            if path.hasPrefix(Self.promotePrefix) {
                self = .promote(String(path.dropFirst(Self.promotePrefix.count)))
            } else {
                self = path.hasPrefix("/raft/stream/") ? .stream : .notFound
            }
        }
    }

    public static let promotePrefix = "/members/promote/"

    /// The member id of a promote path: decimal digits only, as Go's strconv.ParseUint(s, 10, 64)
    /// (Swift's UInt64(_:) would also take a leading "+").
    public static func promoteID(_ s: String) -> UInt64? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(s)
    }

    /// The path part of a request URI.
    public static func path(of uri: String) -> Substring {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }
}

public enum PeerProtocol {
    /// checkClusterCompatibilityFromHeader: versions first, then the cluster id (exact string).
    public static func checkCompatibility(_ h: HTTPHeaders, clusterID: UInt64, serverVersion: SemVer,
                                          minClusterVersion: SemVer) -> CompatibilityError? {
        guard let remote = SemVer(h.first(name: PeerHeader.serverVersion) ?? "2.0.0"),
              let remoteMin = SemVer(h.first(name: PeerHeader.minClusterVersion) ?? "2.0.0") else {
            return .incompatibleVersion
        }
        if remote.majorMinor < minClusterVersion.majorMinor { return .incompatibleVersion }
        if remoteMin.majorMinor > serverVersion.majorMinor { return .incompatibleVersion }
        if (h.first(name: PeerHeader.clusterID) ?? "") != EtcdID.hex(clusterID) { return .clusterIDMismatch }
        return nil
    }

    public enum StreamDecision: Sendable, Equatable {
        case accept(StreamKind, from: UInt64)
        /// `addRemote`: an unknown sender that announced its URLs (etcd adds it as a remote).
        case reject(PeerAnswer, addRemote: UInt64?, urls: [String])
    }

    /// streamHandler.ServeHTTP up to the point where the connection is attached.
    public static func decideStream(method: HTTPMethod, path: Substring, headers: HTTPHeaders, localID: UInt64,
                                    clusterID: UInt64, serverVersion: SemVer, minClusterVersion: SemVer,
                                    isRemoved: (UInt64) -> Bool, isPeer: (UInt64) -> Bool) -> StreamDecision {
        func reject(_ a: PeerAnswer) -> StreamDecision { .reject(a, addRemote: nil, urls: []) }
        guard method == .GET else { return reject(.methodNotAllowed(allow: "GET")) }
        if let e = checkCompatibility(headers, clusterID: clusterID, serverVersion: serverVersion,
                                      minClusterVersion: minClusterVersion) {
            return reject(.error(412, e.rawValue))
        }
        guard let slash = path.lastIndex(of: "/") else { return reject(.error(404, "invalid path")) }
        let kind: StreamKind
        switch path[..<slash] {
        case StreamKind.msgAppV2.endpoint: kind = .msgAppV2
        case StreamKind.message.endpoint: kind = .message
        default: return reject(.error(404, "invalid path"))
        }
        guard let from = EtcdID.parse(path[path.index(after: slash)...]) else { return reject(.error(404, "invalid from")) }
        if isRemoved(from) { return reject(.error(410, "removed member")) }
        guard isPeer(from) else {
            let urls = (headers.first(name: PeerHeader.peerURLs) ?? "").split(separator: ",").map(String.init)
            return .reject(.error(404, "error sender not found"), addRemote: urls.isEmpty ? nil : from, urls: urls)
        }
        guard headers.first(name: PeerHeader.raftTo) == EtcdID.hex(localID) else {
            return reject(.error(412, "to field mismatch"))
        }
        return .accept(kind, from: from)
    }

    /// checkPostResponse: what a sender makes of a pipeline/snapshot answer.
    public enum PostOutcome: Sendable, Equatable {
        case ok
        case incompatible(CompatibilityError)
        case memberRemoved
        case failed(String)
    }

    public static func postOutcome(status: Int, body: [UInt8], url: String) -> PostOutcome {
        switch status {
        case 204: return .ok
        case 403: return .memberRemoved
        case 412:
            var text = String(decoding: body, as: UTF8.self)
            if text.hasSuffix("\n") { text.removeLast() }
            if let e = CompatibilityError(rawValue: text) { return .incompatible(e) }
            return .failed("unhandled error \"\(text)\" when precondition failed")
        default:
            return .failed("unexpected http status \(HTTPResponseStatus(statusCode: status).reasonPhrase) while posting to \"\(url)\"")
        }
    }

    /// streamReader.dial: streams exist from 2.1 on (both kinds), so only a 2.0 peer lacks them.
    public static func supportsStreams(remoteVersion: String?) -> Bool {
        guard let v = SemVer(remoteVersion ?? "2.0.0") else { return false }
        return v.majorMinor > SemVer(major: 2, minor: 0, patch: 0)
    }

    /// etcd's answer when raft refuses a message from a removed member (httptypes.HTTPError).
    static let removedMemberAnswer = PeerAnswer.json(403, Array(#"{"message":"cannot process message from removed member"}"#.utf8))

    /// GET /version body (etcdhttp serveVersion).
    public static func versionJSON(server: String, cluster: String?) -> [UInt8] {
        Array(#"{"etcdserver":"\#(server)","etcdcluster":"\#(cluster ?? "not_decided")"}"#.utf8)
    }

    /// The headers every request to a peer carries (createPostRequest / streamReader.dial).
    public static func requestHeaders(localID: UInt64, clusterID: UInt64, serverVersion: String,
                                      minClusterVersion: String, peerURLs: [String]) -> [(String, String)] {
        var h = [(PeerHeader.serverFrom, EtcdID.hex(localID)), (PeerHeader.serverVersion, serverVersion),
                 (PeerHeader.minClusterVersion, minClusterVersion), (PeerHeader.clusterID, EtcdID.hex(clusterID))]
        if !peerURLs.isEmpty { h.append((PeerHeader.peerURLs, peerURLs.joined(separator: ","))) }
        return h
    }
}
