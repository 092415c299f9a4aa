import Bbolt
import Foundation
import Glibc
import Storage

/// etcd 3.4's raft snapshot between members, as `/raft/snapshot` carries it: the MsgSnap's
/// `Snapshot.Data` is the v2 store as JSON (etcd 3.4 keeps the membership there:
/// `/0/members/<hex id>/raftAttributes` and `attributes`, `/0/removed_members/<hex id>`,
/// `/0/version`), and the body after the message is the bbolt backend. etcd-swift sends this
/// format to every peer and turns a received one into a backend copy it can install.
public enum RaftSnapshotFormat {
    /// The membership a snapshot carries: the v2 store's.
    public typealias Membership = V2Membership

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case notV2Store
        case notBbolt(String)
        case badDatabase(String)

        public var description: String {
            switch self {
            case .notV2Store: "the snapshot's data is not etcd's v2 store JSON"
            case let .notBbolt(why): "the snapshot's database is not a bbolt file: \(why)"
            case let .badDatabase(why): "the snapshot's database cannot be used: \(why)"
            }
        }
    }

    // MARK: v2 store JSON

    /// The v2 store JSON etcd 3.4's `store.Save` would give for `membership`: a root directory
    /// with `/0` (members, removed members, cluster version) and an empty `/1` (v2 keys, which
    /// etcd-swift does not keep). etcd's `store.Recovery` needs `Path` on every node and
    /// `Children` (an object) on every directory; `membersFromStore` takes the member id from
    /// the last path element, in hex.
    public static func v2StoreJSON(_ membership: Membership, index: UInt64) -> [UInt8] {
        let zeroTime = "\"0001-01-01T00:00:00Z\""
        func file(_ path: String, _ value: String) -> String {
            "{\"Path\":\(goQuote(path)),\"CreatedIndex\":\(index),\"ModifiedIndex\":\(index),\"ExpireTime\":\(zeroTime),"
                + "\"Value\":\(goQuote(value)),\"Children\":null}"
        }
        func dir(_ path: String, _ children: [(String, String)]) -> String {
            "{\"Path\":\(goQuote(path)),\"CreatedIndex\":\(index),\"ModifiedIndex\":\(index),\"ExpireTime\":\(zeroTime),"
                + "\"Value\":\"\",\"Children\":{" + children.map { "\(goQuote($0.0)):\($0.1)" }.joined(separator: ",") + "}}"
        }
        let members = membership.members.sorted { String($0.id, radix: 16) < String($1.id, radix: 16) }.map { m -> (String, String) in
            let hex = String(m.id, radix: 16)
            let base = "/0/members/" + hex
            var raft = "{\"peerURLs\":[\(m.peerURLs.map(goQuote).joined(separator: ","))]"
            if m.isLearner { raft += ",\"isLearner\":true" }
            raft += "}"
            var attrs: [String] = []
            if !m.name.isEmpty { attrs.append("\"name\":\(goQuote(m.name))") }
            if !m.clientURLs.isEmpty { attrs.append("\"clientURLs\":[\(m.clientURLs.map(goQuote).joined(separator: ","))]") }
            // Keys in Go's order (sorted). etcd writes attributes when the member publishes
            // them; a member that has not yet has only raftAttributes.
            var children: [(String, String)] = []
            if !attrs.isEmpty { children.append(("attributes", file(base + "/attributes", "{" + attrs.joined(separator: ",") + "}"))) }
            children.append(("raftAttributes", file(base + "/raftAttributes", raft)))
            return (hex, dir(base, children))
        }
        let removed = membership.removed.sorted { String($0, radix: 16) < String($1, radix: 16) }.map { id -> (String, String) in
            let hex = String(id, radix: 16)
            return (hex, file("/0/removed_members/" + hex, ""))
        }
        // etcd makes /0/removed_members with the first removal.
        var zero = [("members", dir("/0/members", members))]
        if !removed.isEmpty { zero.append(("removed_members", dir("/0/removed_members", removed))) }
        if let v = membership.clusterVersion { zero.append(("version", file("/0/version", v))) }
        let root = dir("/", [("0", dir("/0", zero)), ("1", dir("/1", []))])
        return Array("{\"Root\":\(root),\"CurrentIndex\":\(index),\"CurrentVersion\":2}".utf8)
    }

    /// The membership in a v2 store JSON (a snapshot's data); throws when it is not that JSON.
    public static func membership(v2StoreJSON data: [UInt8]) throws(Failure) -> Membership {
        guard let v2 = V2Membership(storeJSON: data) else { throw .notV2Store }
        return v2
    }

    // MARK: the database

    /// Whether the file at `path` opens as a bbolt file (its meta pages check out).
    public static func isBbolt(at path: String) -> Bool {
        (try? BboltFile(path: path)) != nil
    }

    /// Turns a received bbolt backend into an etcd-swift backend copy at `copyPath` (what
    /// `Backend.replaceContents(withCopyAt:)` installs), with the members from `membership`
    /// when it has any (etcd 3.4 restores its membership from the v2 store, not the db's
    /// `members` buckets). Every bucket must be one etcd 3.4 keeps, with no nested buckets, and
    /// `key` holds only revision keys; anything else is refused before anything is written at
    /// `copyPath`. The bbolt file is read through its map, records go into a scratch LMDB
    /// environment beside `copyPath` in bounded transactions (memory stays at a batch), then a
    /// compacted copy of it is renamed to `copyPath`. Returns the db's consistent index (0 when it has none).
    @discardableResult
    public static func importBbolt(at bboltPath: String, membership: Membership?, toCopyAt copyPath: String) throws -> UInt64 {
        let db: BboltFile
        do { db = try BboltFile(path: bboltPath) } catch { throw Failure.notBbolt("\(error)") }
        let consistentIndex: UInt64
        do { consistentIndex = try BboltBucketCopy.consistentIndex(of: db) } catch let r as BboltBucketCopy.Refusal {
            throw Failure.badDatabase(r.description)
        }
        let useV2 = !(membership?.members.isEmpty ?? true)

        let scratch = copyPath + ".import"
        unlink(scratch)
        unlink(scratch + "-lock")
        defer {
            unlink(scratch)
            unlink(scratch + "-lock")
        }
        var options = Backend.Options()
        options.mapSize = max(options.mapSize, db.fileSize * 2 + 64 << 20)
        let backend = try Backend(path: scratch, options: options)
        do {
            _ = try BboltBucketCopy.copy(db, into: backend, skipping: useV2 ? [.members, .membersRemoved] : [])
        } catch let r as BboltBucketCopy.Refusal {
            throw Failure.badDatabase(r.description)
        }
        if useV2, let membership { try backend.update { tx in try membership.put(into: tx) } }
        try backend.sync()
        try backend.copy(to: copyPath)
        return consistentIndex
    }
}
