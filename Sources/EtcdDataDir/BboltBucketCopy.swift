import Bbolt
import Storage

/// etcd's buckets of a bbolt db copied into an LMDB backend: the one copy loop behind both imports
/// (an etcd data dir's `db`, and the `db` of a raft snapshot from an etcd leader).
///
/// Strict, since what it copies becomes this member's state: a bucket etcd-swift does not keep, a
/// nested bucket, or a `key` record whose key is not a revision refuses the whole db. Records go in
/// commits of at most 10,000 records or 32 MiB, so a db larger than memory (or than one LMDB write
/// transaction's dirty pages) copies in bounded memory.
enum BboltBucketCopy {
    enum Refusal: Error, CustomStringConvertible {
        case unknownBucket(String)
        case malformed(String)

        var description: String {
            switch self {
            case let .unknownBucket(name): "unknown bucket \(name)"
            case let .malformed(why): why
            }
        }
    }

    static let batchRecords = 10_000
    static let batchBytes = 32 << 20

    /// The db's `meta/consistent_index` (0 when absent).
    static func consistentIndex(of db: BboltFile) throws -> UInt64 {
        guard try db.bucketNames.contains("meta") else { return 0 }
        guard let ci = try db.get(bucket: "meta", key: Array("consistent_index".utf8)) else { return 0 }
        guard ci.count == 8 else { throw Refusal.malformed("consistent_index is \(ci.count) bytes") }
        return ci.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Copies every bucket of `db` but those in `skipping` into `backend`; returns each copied
    /// bucket's name and record count. Checks every bucket name before it writes anything.
    static func copy(_ db: BboltFile, into backend: Backend, skipping: Set<Bucket> = []) throws -> [(name: String, keys: Int)] {
        var buckets: [(Bucket, String)] = []
        for name in try db.bucketNames {
            guard let bucket = Bucket.allCases.first(where: { $0.name == name }) else { throw Refusal.unknownBucket(name) }
            if !skipping.contains(bucket) { buckets.append((bucket, name)) }
        }
        var counts: [(name: String, keys: Int)] = []
        for (bucket, name) in buckets {
            var pending: [(key: [UInt8], value: [UInt8])] = []
            var pendingBytes = 0
            var n = 0
            func flush() throws {
                guard !pending.isEmpty else { return }
                try backend.update { tx in
                    for (k, v) in pending { try tx.put(bucket, k, v) }
                }
                pending.removeAll(keepingCapacity: true)
                pendingBytes = 0
            }
            try db.forEach(bucketPath: [Array(name.utf8)]) { entry in
                if entry.isBucket { throw Refusal.malformed("nested bucket in \(name)") }
                // A revision (8-byte main, '_', 8-byte sub), with a trailing 't' on a tombstone.
                if bucket == .key, entry.key.count != 17 && entry.key.count != 18 {
                    throw Refusal.malformed("key bucket holds a \(entry.key.count)-byte key")
                }
                pending.append((entry.key, entry.value))
                pendingBytes += entry.key.count + entry.value.count
                n += 1
                if pending.count >= batchRecords || pendingBytes >= batchBytes { try flush() }
            }
            try flush()
            counts.append((name, n))
        }
        return counts
    }
}
