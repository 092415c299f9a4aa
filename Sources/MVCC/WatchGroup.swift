/// The synced watchers, indexed for matching an event's key (etcd's watcherGroup).
///
/// Single-key watchers sit in a dictionary by key. Range watchers are grouped by identical
/// range (a thousand watchers on one prefix are one entry), and the distinct ranges are kept
/// sorted by lower bound so a lookup visits only ranges starting at or before the key. Not
/// thread-safe: guarded by `WatchState.mutex`.
struct WatchGroup {
    private var singles: [[UInt8]: [ObjectIdentifier: Watcher]] = [:]
    private var ranges: [WatchRange: [ObjectIdentifier: Watcher]] = [:]
    /// The keys of `ranges`, sorted by lower bound.
    private var sortedRanges: [WatchRange] = []
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func add(_ w: Watcher) {
        switch w.range {
        case let .single(k):
            singles[k, default: [:]][w.oid] = w
        default:
            if ranges[w.range] == nil {
                ranges[w.range] = [:]
                sortedRanges.insert(w.range, at: upperBound(w.range.lower))
            }
            ranges[w.range]![w.oid] = w
        }
        count += 1
    }

    /// Removes `w`; false when it was not in the group.
    @discardableResult
    mutating func remove(_ w: Watcher) -> Bool {
        switch w.range {
        case let .single(k):
            guard singles[k]?.removeValue(forKey: w.oid) != nil else { return false }
            if singles[k]!.isEmpty { singles[k] = nil }
        default:
            guard ranges[w.range]?.removeValue(forKey: w.oid) != nil else { return false }
            if ranges[w.range]!.isEmpty {
                ranges[w.range] = nil
                if let i = sortedRanges.firstIndex(of: w.range) { sortedRanges.remove(at: i) }
            }
        }
        count -= 1
        return true
    }

    /// Calls `body` for every watcher whose range holds `key`.
    func forEachMatch(_ key: [UInt8], _ body: (Watcher) -> Void) {
        if let ws = singles[key] {
            for w in ws.values { body(w) }
        }
        guard !sortedRanges.isEmpty else { return }
        for r in sortedRanges[..<upperBound(key)] where r.contains(key) {
            for w in ranges[r]!.values { body(w) }
        }
    }

    /// Index of the first range whose lower bound is after `key`.
    private func upperBound(_ key: [UInt8]) -> Int {
        var lo = 0
        var hi = sortedRanges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if key.lexicographicallyPrecedes(sortedRanges[mid].lower) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
