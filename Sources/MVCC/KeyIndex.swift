/// One life of a key: from its creating put to the tombstone that ends it (the tombstone is the
/// last revision of a closed generation).
struct Generation {
    /// Puts in this generation so far.
    var ver: Int64 = 0
    var created = Revision(main: 0)
    var revs: [Revision] = []

    var isEmpty: Bool { revs.isEmpty }

    /// Index of the newest revision for which `keepGoing` is false, walking from the newest; -1
    /// when it holds for all.
    func walkBack(_ keepGoing: (Revision) -> Bool) -> Int {
        var i = revs.count - 1
        while i >= 0 {
            if !keepGoing(revs[i]) { return i }
            i -= 1
        }
        return -1
    }
}

/// Every revision of one key still in the index, grouped in generations (etcd's keyIndex).
///
/// Example: put at 1, put at 2, delete at 3, put at 4 gives
/// `[{created 1, ver 3, revs 1 2 3(tomb)}, {created 4, ver 1, revs 4}]`. A delete closes the
/// current generation and opens an empty one; the next put starts it at version 1 with a new
/// create revision.
final class KeyIndex {
    let key: [UInt8]
    /// The newest revision recorded.
    var modified = Revision(main: 0)
    var generations: [Generation] = [Generation()]

    init(key: [UInt8]) { self.key = key }

    /// Whether only one empty generation is left (the key can leave the index).
    var isEmpty: Bool { generations.count == 1 && generations[0].isEmpty }
    /// The key exists now: its newest generation has not been ended by a delete.
    var isLive: Bool { !generations[generations.count - 1].isEmpty }

    /// Records a put at `rev`, which must be newer than anything recorded.
    func put(_ rev: Revision) {
        precondition(rev > modified, "keyIndex.put: revision \(rev) not after \(modified)")
        let g = generations.count - 1
        if generations[g].revs.isEmpty { generations[g].created = rev }
        generations[g].revs.append(rev)
        generations[g].ver += 1
        modified = rev
    }

    /// Rebuilds the newest state from one stored KeyValue (start-up).
    func restore(created: Revision, modified: Revision, version: Int64) {
        precondition(isEmpty, "keyIndex.restore on a non-empty index")
        self.modified = modified
        generations = [Generation(ver: version, created: created, revs: [modified])]
    }

    /// Records a delete at `rev`; false when the key is not live (nothing to delete).
    @discardableResult
    func tombstone(_ rev: Revision) -> Bool {
        guard !generations[generations.count - 1].isEmpty else { return false }
        put(rev)
        generations.append(Generation())
        return true
    }

    /// Takes back the newest `put` (a rolled-back write transaction).
    func undoPut() {
        let g = generations.count - 1
        generations[g].revs.removeLast()
        generations[g].ver -= 1
        if generations[g].revs.isEmpty { generations[g] = Generation() }
        modified = generations.last(where: { !$0.isEmpty })?.revs.last ?? Revision(main: 0)
    }

    /// Takes back the newest `tombstone`.
    func undoTombstone() {
        generations.removeLast()
        undoPut()
    }

    /// The key's state as of main revision `atRev`: its mod revision, create revision and version;
    /// nil when it did not exist then. (Hot in every range: walks the arrays in place.)
    func get(atRev: Int64) -> (modified: Revision, created: Revision, version: Int64)? {
        generations.withUnsafeBufferPointer { gens in
            guard let gi = findGeneration(gens, atRev) else { return nil }
            return gens[gi].revs.withUnsafeBufferPointer { revs in
                var n = revs.count - 1
                while n >= 0 && revs[n].main > atRev { n -= 1 }
                guard n >= 0 else { return nil }
                return (revs[n], gens[gi].created, gens[gi].ver - Int64(revs.count - n - 1))
            }
        }
    }

    /// Revisions since main revision `rev`, one per main revision (the last sub wins), for watch.
    func since(_ rev: Int64) -> [Revision] {
        let since = Revision(main: rev)
        var gi = generations.count - 1
        while gi > 0 {
            let g = generations[gi]
            if !g.isEmpty && since > g.created { break }
            gi -= 1
        }
        var out: [Revision] = []
        var last: Int64 = 0
        for g in generations[gi...] {
            for r in g.revs where !(since > r) {
                if r.main == last { out[out.count - 1] = r; continue }
                out.append(r)
                last = r.main
            }
        }
        return out
    }

    /// Drops revisions older than `atRev` except the newest one at or before it in a live
    /// generation; generations that ended at or before `atRev` go entirely (tombstones too).
    /// Revisions that survive and are at or before `atRev` are added to `available`.
    func compact(_ atRev: Int64, _ available: inout Set<Revision>) {
        precondition(!isEmpty, "keyIndex.compact on an empty index")
        var (gi, ri) = doCompact(atRev, &available)
        if !generations[gi].isEmpty {
            if ri != -1 { generations[gi].revs.removeFirst(ri) }
            // A closed generation left holding only its tombstone goes too.
            if generations[gi].revs.count == 1 && gi != generations.count - 1 {
                available.remove(generations[gi].revs[0])
                gi += 1
            }
        }
        generations.removeFirst(gi)
    }

    /// Like `compact` without changing anything: which revisions a compaction at `atRev` keeps
    /// (for hashing at a revision).
    func keep(_ atRev: Int64, _ available: inout Set<Revision>) {
        guard !isEmpty else { return }
        let (gi, ri) = doCompact(atRev, &available)
        let g = generations[gi]
        if !g.isEmpty && ri == g.revs.count - 1 && gi != generations.count - 1 {
            available.remove(g.revs[ri])
        }
    }

    private func doCompact(_ atRev: Int64, _ available: inout Set<Revision>) -> (Int, Int) {
        var gi = 0
        while gi < generations.count - 1 {
            if let tomb = generations[gi].revs.last, tomb.main > atRev { break }
            gi += 1
        }
        let ri = generations[gi].walkBack { rev in
            if rev.main <= atRev {
                available.insert(rev)
                return false
            }
            return true
        }
        return (gi, ri)
    }

    /// The generation holding main revision `rev`, or nil when the key was absent then.
    private func findGeneration(_ gens: UnsafeBufferPointer<Generation>, _ rev: Int64) -> Int? {
        let last = gens.count - 1
        var cg = last
        while cg >= 0 {
            let revs = gens[cg].revs
            if revs.isEmpty { cg -= 1; continue }
            if cg != last && revs[revs.count - 1].main <= rev { return nil }
            if revs[0].main <= rev { return cg }
            cg -= 1
        }
        return nil
    }
}
