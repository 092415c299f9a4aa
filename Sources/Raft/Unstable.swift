/// Entries and a snapshot that raft has accepted but the application has not yet persisted.
struct Unstable {
    var snapshot: Snapshot?
    var entries: [Entry] = []
    /// Index of `entries[0]`.
    var offset: UInt64

    init(offset: UInt64) { self.offset = offset }

    func maybeFirstIndex() -> UInt64? {
        if let s = snapshot { return s.metadata.index + 1 }
        return nil
    }

    func maybeLastIndex() -> UInt64? {
        if !entries.isEmpty { return offset + UInt64(entries.count) - 1 }
        if let s = snapshot { return s.metadata.index }
        return nil
    }

    func maybeTerm(_ i: UInt64) -> UInt64? {
        if i < offset {
            if let s = snapshot, s.metadata.index == i { return s.metadata.term }
            return nil
        }
        guard let last = maybeLastIndex(), i <= last else { return nil }
        if entries.isEmpty { return nil }
        return entries[Int(i - offset)].term
    }

    /// The application persisted entries up to `i` (of term `t`): drop them from here, unless
    /// they were since replaced by a conflicting append.
    mutating func stableTo(_ i: UInt64, _ t: UInt64) {
        guard let gt = maybeTerm(i), gt == t, i >= offset else { return }
        let n = Int(i + 1 - offset)
        if n >= entries.count {
            entries.removeAll(keepingCapacity: true)
        } else {
            entries.removeFirst(n)
        }
        offset = i + 1
    }

    mutating func stableSnapTo(_ i: UInt64) {
        if let s = snapshot, s.metadata.index == i { snapshot = nil }
    }

    mutating func restore(_ s: Snapshot) {
        offset = s.metadata.index + 1
        entries = []
        snapshot = s
    }

    mutating func truncateAndAppend(_ ents: ArraySlice<Entry>) {
        guard let after = ents.first?.index else { return }
        if after == offset + UInt64(entries.count) {
            entries.append(contentsOf: ents)
        } else if after <= offset {
            // Replace everything unstable: the new entries start at or before our first one.
            offset = after
            entries = Array(ents)
        } else {
            entries.removeSubrange(Int(after - offset)...)
            entries.append(contentsOf: ents)
        }
    }

    func slice(_ lo: UInt64, _ hi: UInt64) -> ArraySlice<Entry> {
        precondition(lo >= offset && hi <= offset + UInt64(entries.count), "unstable slice out of bound")
        return entries[Int(lo - offset)..<Int(hi - offset)]
    }
}
