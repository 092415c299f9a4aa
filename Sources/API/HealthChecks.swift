import EtcdProto
import NIOHTTP1
import Server

/// `/health`, `/livez` and `/readyz` as etcd serves them (etcd 3.4.29's `etcdhttp/health.go`;
/// 3.4.23 answers `/health` the same way, without `serializable`).
struct HealthChecks {
    let node: ServerNode

    /// A response: status, content type, body.
    typealias Answer = (HTTPResponseStatus, String, String)

    /// `/health`: no un-excluded alarm, a leader (unless `?serializable=true`), and a read that
    /// answers (linearizable, or serializable with `?serializable=true`).
    func health(query: Query) async -> Answer {
        let excluded = Set(query.values("exclude").filter { !$0.isEmpty })
        let serializable = query.first("serializable") == "true"
        var healthy = await !activeAlarms().contains { !excluded.contains($0) }
        if healthy, !serializable, node.leader == 0 { healthy = false }
        if healthy { healthy = await read(serializable: serializable) == nil }
        if healthy { return (.ok, "text/plain; charset=utf-8", #"{"health":"true"}"#) }
        // Go's http.Error: the JSON, a newline, nosniff.
        return (.serviceUnavailable, "text/plain; charset=utf-8", #"{"health":"false"}"# + "\n")
    }

    /// The named checks of `/livez` and `/readyz`, in the order they are listed.
    static let livez = ["serializable_read"]
    static let readyz = ["data_corruption", "serializable_read", "linearizable_read"]

    /// `/livez`, `/readyz` and their per-check paths (`/readyz/linearizable_read`). Returns nil for
    /// a path that is not one of them.
    func probe(path: String, query: Query) async -> Answer? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, parts[0].isEmpty else { return nil }
        let all: [String]
        switch parts[1] {
        case "livez": all = Self.livez
        case "readyz": all = Self.readyz
        default: return nil
        }
        var names: [String]
        if parts.count == 3 {
            guard all.contains(parts[2]) else { return nil }
            names = [parts[2]]
        } else {
            let excluded = Set(query.values("exclude"))
            names = all.filter { !excluded.contains($0) }
        }
        var report = ""
        var failed = false
        for name in names {
            if let error = await run(name) {
                failed = true
                report += "[-]\(name) failed: \(error)\n"
            } else {
                report += "[+]\(name) ok\n"
            }
        }
        if failed { return (.serviceUnavailable, "text/plain; charset=utf-8", report + "\n") }
        return (.ok, "text/plain; charset=utf-8", (query.has("verbose") ? report : "") + "ok\n")
    }

    /// Runs one check; the error text if it fails.
    private func run(_ name: String) async -> String? {
        switch name {
        case "data_corruption":
            return await activeAlarms().contains("CORRUPT") ? "alarm activated: CORRUPT" : nil
        case "serializable_read": return await read(serializable: true)
        case "linearizable_read": return await read(serializable: false)
        default: return nil
        }
    }

    /// The names of the raised alarms (etcd's AlarmType names).
    private func activeAlarms() async -> [String] {
        var get = Etcdserverpb_AlarmRequest()
        get.action = .get
        guard let response = try? await node.alarm(get) else { return [] }
        return response.alarms.map { member in
            switch member.alarm {
            case .nospace: "NOSPACE"
            case .corrupt: "CORRUPT"
            default: "NONE"
            }
        }
    }

    /// etcd's health read: keys only, limit 1, within the request timeout. The error text, or nil.
    private func read(serializable: Bool) async -> String? {
        var r = Etcdserverpb_RangeRequest()
        r.key = [0]
        r.keysOnly = true
        r.limit = 1
        r.serializable = serializable
        let request = r
        let node = self.node
        let timeout = node.options.requestTimeout
        return await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do throws(ServerError) {
                    _ = try await node.range(request)
                    return nil
                } catch .userEmpty, .permissionDenied {
                    // The read has no user: with auth enabled it is refused, yet it was answered
                    // (etcd 3.4's /health reads through v2, which auth does not guard).
                    return nil
                } catch {
                    return error.grpcStatus.message
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return "etcdserver: request timed out"
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}

/// A request's query string, decoded as Go's url.ParseQuery does for the names health checks use.
struct Query {
    private var pairs: [(String, String)] = []

    init(uri: String) {
        guard let q = uri.firstIndex(of: "?") else { return }
        for item in uri[uri.index(after: q)...].split(separator: "&") where !item.isEmpty {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            pairs.append((Self.unescape(kv[0]), kv.count > 1 ? Self.unescape(kv[1]) : ""))
        }
    }

    func values(_ name: String) -> [String] { pairs.filter { $0.0 == name }.map(\.1) }
    func first(_ name: String) -> String? { pairs.first { $0.0 == name }?.1 }
    func has(_ name: String) -> Bool { pairs.contains { $0.0 == name } }

    /// `+` is a space and `%XX` a byte; a malformed escape is kept as written.
    private static func unescape(_ s: Substring) -> String {
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i] == UInt8(ascii: "+") ? UInt8(ascii: " ") : bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
