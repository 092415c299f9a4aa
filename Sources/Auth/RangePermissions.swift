/// A half-open byte interval `[begin, end)` where an empty endpoint stands for +infinity (etcd's
/// "bytes affine" intervals): a permission's or request's key range.
struct KeyInterval: Equatable, Sendable {
    var begin: [UInt8]
    var end: [UInt8]

    /// The single key `key`: `[key, key + "\0")`.
    static func point(_ key: [UInt8]) -> KeyInterval { KeyInterval(begin: key, end: key + [0]) }

    /// etcd's order on affine endpoints: an empty one is +infinity, above every key.
    static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.isEmpty ? 0 : 1 }
        if b.isEmpty { return -1 }
        if a == b { return 0 }
        return a.lexicographicallyPrecedes(b) ? -1 : 1
    }

    func overlaps(_ o: KeyInterval) -> Bool {
        Self.compare(begin, o.end) < 0 && Self.compare(o.begin, end) < 0
    }
}

/// One user's permissions merged over all their roles, for reads and for writes (etcd's
/// unifiedRangePermissions). Built when users or roles change; checks only read it.
struct UnifiedPermissions: Sendable {
    /// Sorted by begin.
    var read: [KeyInterval] = []
    var write: [KeyInterval] = []

    init(user: User, roles: [String: Role]) {
        for name in user.roles {
            guard let role = roles[name] else { continue }
            for p in role.permissions {
                let interval: KeyInterval
                if p.rangeEnd.isEmpty {
                    interval = .point(p.key)
                } else {
                    // A range end of "\0" means every key from `key` on.
                    interval = KeyInterval(begin: p.key, end: p.rangeEnd == [0] ? [] : p.rangeEnd)
                }
                if p.type != .write { read.append(interval) }
                if p.type != .read { write.append(interval) }
            }
        }
        let byBegin = { (a: KeyInterval, b: KeyInterval) in KeyInterval.compare(a.begin, b.begin) < 0 }
        read.sort(by: byBegin)
        write.sort(by: byBegin)
    }

    /// Whether `key` (with `rangeEnd`: empty for one key, "\0" for every key from it) is allowed.
    func permits(key: [UInt8], rangeEnd: [UInt8], write isWrite: Bool) -> Bool {
        let set = isWrite ? write : read
        if rangeEnd.isEmpty {
            let p = KeyInterval.point(key)
            return set.contains { $0.overlaps(p) }
        }
        return Self.covers(set, KeyInterval(begin: key, end: rangeEnd == [0] ? [] : rangeEnd))
    }

    /// Whether the intervals overlapping `target`, taken in order, join without a gap and span
    /// it from its begin to its end (etcd's IntervalTree.Contains).
    static func covers(_ set: [KeyInterval], _ target: KeyInterval) -> Bool {
        var minBegin: [UInt8]?
        var maxEnd: [UInt8] = []
        for iv in set where iv.overlaps(target) {
            guard minBegin != nil else {
                minBegin = iv.begin
                maxEnd = iv.end
                continue
            }
            if KeyInterval.compare(maxEnd, iv.begin) < 0 { return false }
            if KeyInterval.compare(iv.end, maxEnd) > 0 { maxEnd = iv.end }
        }
        guard let minBegin else { return false }
        return KeyInterval.compare(maxEnd, target.end) >= 0 && KeyInterval.compare(minBegin, target.begin) <= 0
    }
}
