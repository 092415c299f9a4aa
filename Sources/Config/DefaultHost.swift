// etcd's "default host": when a member listens on 0.0.0.0 and keeps the default advertise URL,
// etcd advertises the address of the interface holding the default route instead of localhost
// (embed `UpdateDefaultClusterFromName`). etcd asks netlink; /proc/net/route plus getifaddrs
// gives the same interface address for IPv4.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ConfigParser {
    /// The IPv4 address of the interface that carries the default route, or nil when there is none
    /// (or on systems without /proc/net/route).
    public static func detectDefaultHost() -> String? {
        #if os(Linux)
        guard let table = readSmallFile("/proc/net/route") else { return nil }
        var interface: String?
        for line in table.split(separator: "\n").dropFirst() {
            let cols = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            if cols.count >= 8 && cols[1] == "00000000" && cols[7] == "00000000" {
                interface = String(cols[0])
                break
            }
        }
        guard let interface else { return nil }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let addr = entry.pointee.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET),
                  String(cString: entry.pointee.ifa_name) == interface else { continue }
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let ok = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> Bool in
                var a = sin.pointee.sin_addr
                return inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count)) != nil
            }
            if ok { return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) },
                                  as: UTF8.self) }
        }
        return nil
        #else
        return nil
        #endif
    }

    private static func readSmallFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension ServerConfig {
    /// embed's `UpdateDefaultClusterFromName`: with a known default host, a 0.0.0.0 listener with the
    /// default advertise URL advertises that host; a non-default name rewrites the default initial
    /// cluster. Returns the host when it was used.
    mutating func applyDefaultHost(_ defaultHost: String?) -> String? {
        let defaultCluster = "default=http://localhost:2380"
        guard let defaultHost, !defaultHost.isEmpty else {
            if name != "default" && initialCluster == defaultCluster { initialCluster = initialClusterFromName() }
            return nil
        }
        var used = false
        if let lp = listenPeerURLs.first, advertisePeerURLs.count == 1,
           advertisePeerURLs[0].description == "http://localhost:2380", lp.host == "0.0.0.0",
           let replaced = Self.withHost(advertisePeerURLs[0], defaultHost, port: lp) {
            advertisePeerURLs[0] = replaced
            used = true
        }
        if name != "default" && initialCluster == defaultCluster { initialCluster = initialClusterFromName() }
        if let lc = listenClientURLs.first, advertiseClientURLs.count == 1,
           advertiseClientURLs[0].description == "http://localhost:2379", lc.host == "0.0.0.0",
           let replaced = Self.withHost(advertiseClientURLs[0], defaultHost, port: lc) {
            advertiseClientURLs[0] = replaced
            used = true
        }
        return used ? defaultHost : nil
    }

    /// `scheme://host:<listener's port>`, as etcd builds it.
    private static func withHost(_ u: ServerURL, _ host: String, port listener: ServerURL) -> ServerURL? {
        let port = ServerURL.splitHostPort(listener.hostPort)?.port ?? ""
        return try? ServerURL.parse("\(u.scheme)://\(host):\(port)")
    }
}
