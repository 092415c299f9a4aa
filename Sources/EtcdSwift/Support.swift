import Foundation

/// `--initial-cluster` ("name=url,name=url2,other=url3") grouped by member name, in first-seen order.
enum InitialCluster {
    static func parse(_ text: String) -> [(name: String, peerURLs: [String])] {
        var members: [(name: String, peerURLs: [String])] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if let i = members.firstIndex(where: { $0.name == parts[0] }) {
                members[i].peerURLs.append(parts[1])
            } else {
                members.append((parts[0], [parts[1]]))
            }
        }
        return members
    }
}

/// systemd's `Type=notify`: tell the service manager the member is ready (etcd does the same).
enum SystemdNotify {
    static func ready() {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract socket namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let message = Array("READY=1".utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, message, message.count, 0, $0, length)
            }
        }
    }
}
