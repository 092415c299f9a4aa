import Foundation
import Storage

/// The membership etcd 3.4 keeps in its v2 store, which a `.snap` file's data holds as JSON
/// (`/0/members/<hex id>/raftAttributes` and `attributes`, `/0/removed_members/<hex id>`,
/// `/0/version`). `etcdctl snapshot restore` writes members only there (it drops the backend's
/// `members` buckets), so the import rebuilds the backend's buckets from it when they are empty.
public struct V2Membership: Equatable, Sendable {
    public struct Member: Equatable, Sendable {
        public var id: UInt64
        public var peerURLs: [String]
        public var isLearner: Bool
        public var name: String
        public var clientURLs: [String]

        public init(id: UInt64, peerURLs: [String], isLearner: Bool, name: String, clientURLs: [String]) {
            self.id = id
            self.peerURLs = peerURLs
            self.isLearner = isLearner
            self.name = name
            self.clientURLs = clientURLs
        }

        /// Go's `json.Marshal` of etcd's `membership.Member`, as etcd stores it in the backend.
        var json: [UInt8] {
            var s = "{\"id\":\(id),\"peerURLs\":[\(peerURLs.map(goQuote).joined(separator: ","))]"
            if isLearner { s += ",\"isLearner\":true" }
            if !name.isEmpty { s += ",\"name\":\(goQuote(name))" }
            if !clientURLs.isEmpty { s += ",\"clientURLs\":[\(clientURLs.map(goQuote).joined(separator: ","))]" }
            return Array((s + "}").utf8)
        }
    }

    public var members: [Member]
    public var removed: [UInt64]
    public var clusterVersion: String?

    public init(members: [Member], removed: [UInt64], clusterVersion: String?) {
        self.members = members
        self.removed = removed
        self.clusterVersion = clusterVersion
    }

    /// Writes this membership into the backend's `members`, `members_removed` and `cluster`
    /// buckets, as etcd stores it there.
    func put(into tx: BatchTx) throws {
        for m in members { try tx.put(.members, Array(String(m.id, radix: 16).utf8), m.json) }
        for id in removed { try tx.put(.membersRemoved, Array(String(id, radix: 16).utf8), Array("removed".utf8)) }
        if let v = clusterVersion { try tx.put(.cluster, Array("clusterVersion".utf8), Array(v.utf8)) }
    }

    /// Parses the v2 store's JSON; nil when it is not that JSON.
    public init?(storeJSON data: [UInt8]) {
        guard let root = (try? JSONSerialization.jsonObject(with: Data(data))) as? [String: Any],
              let top = root["Root"] as? [String: Any] else { return nil }
        func children(_ node: [String: Any]?) -> [String: [String: Any]] {
            (node?["Children"] as? [String: Any] ?? [:]).compactMapValues { $0 as? [String: Any] }
        }
        func object(_ value: Any?) -> [String: Any] {
            guard let s = value as? String, let o = try? JSONSerialization.jsonObject(with: Data(s.utf8)) else { return [:] }
            return o as? [String: Any] ?? [:]
        }
        let zero = children(top)["0"]
        members = children(children(zero)["members"]).compactMap { key, node in
            guard let id = UInt64(key, radix: 16) else { return nil }
            let attrs = children(node)
            let raft = object(attrs["raftAttributes"]?["Value"])
            let other = object(attrs["attributes"]?["Value"])
            return Member(id: id, peerURLs: raft["peerURLs"] as? [String] ?? [], isLearner: raft["isLearner"] as? Bool ?? false,
                          name: other["name"] as? String ?? "", clientURLs: other["clientURLs"] as? [String] ?? [])
        }.sorted { $0.id < $1.id }
        removed = children(children(zero)["removed_members"]).keys.compactMap { UInt64($0, radix: 16) }.sorted()
        clusterVersion = children(zero)["version"]?["Value"] as? String
    }
}

/// A JSON string as Go's encoding/json writes it (HTML-sensitive characters escaped).
func goQuote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "<", ">", "&", "\u{2028}", "\u{2029}":
            out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
        default:
            if u.value < 0x20 {
                out += "\\u00" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
