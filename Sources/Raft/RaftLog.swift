/// The log as raft sees it: persisted entries in `storage` followed by `unstable` ones, with the
/// commit and apply positions.
struct RaftLog {
    let storage: any RaftStorage
    var unstable: Unstable
    /// Highest index known to be stored on a quorum.
    var committed: UInt64
    /// Highest index the application has been handed for applying (applied <= committed).
    var applied: UInt64
    var maxNextEntsSize: Int

    init(storage: any RaftStorage, maxNextEntsSize: Int) throws(RaftStorageError) {
        self.storage = storage
        let first = try storage.firstIndex()
        let last = try storage.lastIndex()
        unstable = Unstable(offset: last + 1)
        committed = first - 1
        applied = first - 1
        self.maxNextEntsSize = maxNextEntsSize
    }

    // MARK: positions

    func firstIndex() -> UInt64 {
        if let i = unstable.maybeFirstIndex() { return i }
        return try! storage.firstIndex()
    }

    func lastIndex() -> UInt64 {
        if let i = unstable.maybeLastIndex() { return i }
        return try! storage.lastIndex()
    }

    func lastTerm() -> UInt64 {
        do { return try term(lastIndex()) } catch { preconditionFailure("unexpected error getting last term: \(error)") }
    }

    /// The term of entry `i`; 0 if `i` lies outside [firstIndex-1, lastIndex].
    func term(_ i: UInt64) throws(RaftStorageError) -> UInt64 {
        let dummy = firstIndex() - 1
        if i < dummy || i > lastIndex() { return 0 }
        if let t = unstable.maybeTerm(i) { return t }
        return try storage.term(i)
    }

    func zeroTermOnCompacted(_ i: UInt64) -> UInt64 {
        do { return try term(i) } catch {
            if error == .compacted { return 0 }
            preconditionFailure("unexpected error: \(error)")
        }
    }

    func matchTerm(_ i: UInt64, _ t: UInt64) -> Bool {
        // term(i) is 0 past the end, so without this an entry we lack "matches" term 0: a MsgApp
        // (or entry, or snapshot) with term 0 beyond our log would append with a gap or commit past
        // it (found by fuzzing; correct peers never send term 0 there).
        guard i <= lastIndex(), let got = try? term(i) else { return false }
        return got == t
    }

    /// Whether a log ending at (lasti, term) is at least as up to date as ours (Raft §5.4.1).
    func isUpToDate(_ lasti: UInt64, _ term: UInt64) -> Bool {
        let lt = lastTerm()
        return term > lt || (term == lt && lasti >= lastIndex())
    }

    // MARK: appending

    /// Follower side of an append: if our entry at `index` has `logTerm`, append `ents` (dropping
    /// what already matches, truncating a conflicting suffix) and advance commit. Returns the index
    /// of the last new entry, or nil when the log does not match.
    mutating func maybeAppend(index: UInt64, logTerm: UInt64, committed c: UInt64, ents: [Entry]) -> UInt64? {
        guard matchTerm(index, logTerm) else { return nil }
        let lastNew = index + UInt64(ents.count)
        let ci = findConflict(ents)
        if ci != 0 {
            precondition(ci > committed, "entry \(ci) conflicts with committed entry [committed(\(committed))]")
            let start = Int(ci - (index + 1))
            _ = append(ents[start...])
        }
        commitTo(min(c, lastNew))
        return lastNew
    }

    @discardableResult
    mutating func append(_ ents: ArraySlice<Entry>) -> UInt64 {
        guard let first = ents.first else { return lastIndex() }
        precondition(first.index - 1 >= committed, "after(\(first.index - 1)) is out of range [committed(\(committed))]")
        unstable.truncateAndAppend(ents)
        return lastIndex()
    }

    /// The index of the first entry of `ents` that is missing from or conflicts with our log; 0
    /// when all are present.
    func findConflict(_ ents: [Entry]) -> UInt64 {
        for e in ents where !matchTerm(e.index, e.term) {
            return e.index
        }
        return 0
    }

    // MARK: ready

    func unstableEntries() -> [Entry] { unstable.entries }

    /// Committed entries not yet handed to the application.
    func nextEntries() -> [Entry] {
        let off = max(applied + 1, firstIndex())
        if committed + 1 > off {
            do { return try slice(off, committed + 1, maxSize: maxNextEntsSize) } catch {
                preconditionFailure("unexpected error when getting unapplied entries: \(error)")
            }
        }
        return []
    }

    func hasNextEntries() -> Bool {
        committed + 1 > max(applied + 1, firstIndex())
    }

    func snapshot() throws(RaftStorageError) -> Snapshot {
        if let s = unstable.snapshot { return s }
        return try storage.snapshot()
    }

    // MARK: moving positions

    mutating func commitTo(_ c: UInt64) {
        if committed < c {
            precondition(lastIndex() >= c, "tocommit(\(c)) is out of range [lastIndex(\(lastIndex()))]")
            committed = c
        }
    }

    mutating func appliedTo(_ i: UInt64) {
        if i == 0 { return }
        precondition(committed >= i && i >= applied, "applied(\(i)) is out of range [prevApplied(\(applied)), committed(\(committed))]")
        applied = i
    }

    mutating func stableTo(_ i: UInt64, _ t: UInt64) { unstable.stableTo(i, t) }
    mutating func stableSnapTo(_ i: UInt64) { unstable.stableSnapTo(i) }

    /// The leader's commit rule: advance to `maxIndex` only if that entry is of the current term.
    mutating func maybeCommit(_ maxIndex: UInt64, _ term: UInt64) -> Bool {
        if maxIndex > committed && zeroTermOnCompacted(maxIndex) == term {
            commitTo(maxIndex)
            return true
        }
        return false
    }

    mutating func restore(_ s: Snapshot) {
        committed = s.metadata.index
        unstable.restore(s)
    }

    // MARK: reading

    /// Entries from `i` to the end, limited to `maxSize` bytes.
    func entries(from i: UInt64, maxSize: Int) throws(RaftStorageError) -> [Entry] {
        if i > lastIndex() { return [] }
        return try slice(i, lastIndex() + 1, maxSize: maxSize)
    }

    func allEntries() -> [Entry] {
        (try? entries(from: firstIndex(), maxSize: Int.max)) ?? []
    }

    /// Entries in [lo, hi) across storage and unstable, limited to `maxSize` bytes.
    func slice(_ lo: UInt64, _ hi: UInt64, maxSize: Int) throws(RaftStorageError) -> [Entry] {
        let fi = firstIndex()
        if lo < fi { throw .compacted }
        precondition(lo <= hi && hi <= lastIndex() + 1, "slice[\(lo),\(hi)) out of bound [\(fi),\(lastIndex())]")
        if lo == hi { return [] }
        // One copy of the requested range only: storage's slice, then unstable's appended to it.
        var ents: [Entry] = []
        if lo < unstable.offset {
            ents = try storage.entries(lo, min(hi, unstable.offset), maxSize: maxSize)
            // A short read from storage means the size limit was hit: stop there.
            if UInt64(ents.count) < min(hi, unstable.offset) - lo { return ents }
        }
        if hi > unstable.offset {
            ents.append(contentsOf: unstable.slice(max(lo, unstable.offset), hi))
        }
        limitSize(&ents, maxSize)
        return ents
    }
}
