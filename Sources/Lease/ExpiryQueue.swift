/// A binary min-heap holding at most one deadline per lease (etcd's LeaseExpiredNotifier):
/// `set` inserts or moves a lease, `remove` drops it, both O(log n). Ties order by lease ID so
/// the order never depends on hashing.
struct ExpiryQueue {
    private var ids: [Int64] = []
    private var times: [Int64] = []
    private var position: [Int64: Int] = [:]

    var count: Int { ids.count }

    /// The earliest deadline.
    var first: (id: Int64, time: Int64)? { ids.isEmpty ? nil : (ids[0], times[0]) }

    func time(of id: Int64) -> Int64? { position[id].map { times[$0] } }

    mutating func set(_ id: Int64, time: Int64) {
        if let i = position[id] {
            let old = times[i]
            times[i] = time
            if less(time, id, old, id) { up(i) } else { down(i) }
        } else {
            ids.append(id)
            times.append(time)
            position[id] = ids.count - 1
            up(ids.count - 1)
        }
    }

    mutating func remove(_ id: Int64) {
        guard let i = position.removeValue(forKey: id) else { return }
        let last = ids.count - 1
        if i != last {
            ids[i] = ids[last]
            times[i] = times[last]
            position[ids[i]] = i
        }
        ids.removeLast()
        times.removeLast()
        if i < ids.count {
            up(i)
            down(i)
        }
    }

    mutating func removeAll() {
        ids.removeAll()
        times.removeAll()
        position.removeAll()
    }

    @inline(__always)
    private func less(_ t1: Int64, _ id1: Int64, _ t2: Int64, _ id2: Int64) -> Bool {
        t1 < t2 || (t1 == t2 && id1 < id2)
    }

    @inline(__always)
    private func less(_ i: Int, _ j: Int) -> Bool { less(times[i], ids[i], times[j], ids[j]) }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        ids.swapAt(i, j)
        times.swapAt(i, j)
        position[ids[i]] = i
        position[ids[j]] = j
    }

    private mutating func up(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(i, parent) else { return }
            swapAt(i, parent)
            i = parent
        }
    }

    private mutating func down(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < ids.count, less(l, m) { m = l }
            if r < ids.count, less(r, m) { m = r }
            if m == i { return }
            swapAt(i, m)
            i = m
        }
    }
}
