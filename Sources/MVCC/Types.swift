/// Options of a range read (etcd's RangeOptions plus keys_only).
public struct RangeOptions: Sendable, Equatable {
    /// Most keys to return; 0 = no limit. `count` still counts every match.
    public var limit: Int64
    /// Revision to read at; 0 (or less) = the current revision.
    public var rev: Int64
    /// Count matches only (`kvs` empty).
    public var countOnly: Bool
    /// Leave values out of the returned KeyValues.
    public var keysOnly: Bool

    public init(limit: Int64 = 0, rev: Int64 = 0, countOnly: Bool = false, keysOnly: Bool = false) {
        self.limit = limit
        self.rev = rev
        self.countOnly = countOnly
        self.keysOnly = keysOnly
    }
}

/// The answer to a range read.
public struct RangeResult: Sendable, Equatable {
    /// Matches in key order, at most `limit`.
    public var kvs: [KeyValue]
    /// Every match, regardless of the limit (RangeResponse.count; `more` is `count > kvs.count`).
    public var count: Int
    /// The revision the read was served at (the header revision).
    public var rev: Int64

    public init(kvs: [KeyValue], count: Int, rev: Int64) {
        self.kvs = kvs
        self.count = count
        self.rev = rev
    }
}

/// One change made by a write transaction, for watchers.
public struct Event: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case put, delete }

    public var kind: Kind
    /// Put: the new KeyValue. Delete: the key with `modRevision` = the deleting revision.
    public var kv: KeyValue
    /// The key's previous state, when the operation was asked for it (`prevKV: true`).
    public var prevKV: KeyValue?

    public init(kind: Kind, kv: KeyValue, prevKV: KeyValue? = nil) {
        self.kind = kind
        self.kv = kv
        self.prevKV = prevKV
    }
}

/// HashKV's answer.
public struct HashResult: Sendable, Equatable {
    public var hash: UInt32
    public var currentRev: Int64
    public var compactRev: Int64
}

/// Names in the `meta` bucket, as etcd spells them.
enum MetaKey {
    static let consistentIndex = Array("consistent_index".utf8)
    static let scheduledCompact = Array("scheduledCompactRev".utf8)
    static let finishedCompact = Array("finishedCompactRev".utf8)
}

@inline(__always) func bigEndian8(_ v: UInt64) -> [UInt8] {
    withUnsafeBytes(of: v.bigEndian) { Array($0) }
}
