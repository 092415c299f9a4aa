/// The in-memory index of every key's revisions, ordered by key (etcd's treeIndex), plus the
/// store's revision counters. Lives inside `Guarded`, which is its only lock.
struct IndexState {
    var tree = KeyTree()
    /// Revision of the last committed write transaction (1 in a fresh store).
    var currentRev: Int64 = 1
    /// Revision of the write transaction being committed, set before its LMDB commit (while it
    /// still holds the write lock) so the next writer never reuses it in the window before
    /// `currentRev` is published.
    var lastWriteRev: Int64 = 1
    /// Revision of the last compaction (-1 before any).
    var compactRev: Int64 = -1
    var consistentIndex: UInt64 = 0
    /// Keys that exist now (their newest generation is not deleted): etcd's keys gauge.
    var liveKeys = 0
    /// Identifies the data this state was loaded from. `KVStore.reload` retires it (handing it
    /// the tree, for read views still on the old data) and starts a new one.
    var generation = IndexGeneration()

    /// Calls `body` with each key in `[key, end)` that exists at `atRev`, with its revision there.
    /// `end` empty: only `key`; `end` == [0]: every key >= `key`.
    func visit(_ key: [UInt8], _ end: [UInt8], atRev: Int64,
               _ body: (KeyIndex, Revision) throws -> Bool) rethrows {
        try tree.visit(key, end, atRev: atRev, body)
    }

    /// The tree and compaction revision that a read view of `generation` reads: this state's
    /// own while `generation` is current, else what `generation` kept when it was retired.
    func view(_ generation: IndexGeneration?) -> (tree: KeyTree, compactRev: Int64) {
        guard let g = generation, g !== self.generation else { return (tree, compactRev) }
        guard let retired = g.retired else { preconditionFailure("a non-current index generation was never retired") }
        return retired
    }
}

/// One load of the index from the backend (`KVStore.init` or `reload`). A read view remembers
/// the generation it was opened in; when `reload` swaps in new data, the old generation keeps
/// the old tree (no longer changed by anyone) so views still reading the old LMDB snapshot keep
/// answering from the index that matches it. The tree is freed with the last such view.
///
/// `@unchecked Sendable`: `retired` is written once, under the store's index write lock, and read
/// under its read lock.
final class IndexGeneration: @unchecked Sendable {
    var retired: (tree: KeyTree, compactRev: Int64)?
}

extension KeyTree {
    /// `IndexState.visit` on this tree.
    func visit(_ key: [UInt8], _ end: [UInt8], atRev: Int64,
               _ body: (KeyIndex, Revision) throws -> Bool) rethrows {
        if end.isEmpty {
            if let ki = get(key), let r = ki.get(atRev: atRev) { _ = try body(ki, r.modified) }
            return
        }
        let unbounded = end == [0]
        try ascend(from: key) { ki in
            if !unbounded && compareKeys(ki.key, end) >= 0 { return false }
            guard let r = ki.get(atRev: atRev) else { return true }
            return try body(ki, r.modified)
        }
    }
}

extension IndexState {
    /// Records a put (the writer only).
    mutating func put(_ key: [UInt8], _ rev: Revision) {
        tree.getOrInsert(key) { KeyIndex(key: key) }.put(rev)
    }

    /// Records a delete of a live key (the writer only).
    mutating func tombstone(_ key: [UInt8], _ rev: Revision) -> Bool {
        guard tree.get(key)?.tombstone(rev) == true else { return false }
        liveKeys -= 1
        return true
    }

    /// Takes back index changes (newest last in `ops`) and resets the writer's revision.
    mutating func undo(_ ops: [IndexUndo], lastWriteRev: Int64) {
        for op in ops.reversed() {
            guard let ki = tree.get(op.key) else { preconditionFailure("rollback: key left the index") }
            let wasLive = ki.isLive
            if op.tombstone { ki.undoTombstone() } else { ki.undoPut() }
            liveKeys += (ki.isLive ? 1 : 0) - (wasLive ? 1 : 0)
            if op.created && ki.isEmpty { tree.remove(op.key) }
        }
        self.lastWriteRev = lastWriteRev
    }

    /// Revisions that a compaction at `rev` keeps, without compacting (for hashing).
    func keep(_ rev: Int64) -> Set<Revision> {
        var available = Set<Revision>()
        tree.ascend(from: []) { ki in
            ki.keep(rev, &available)
            return true
        }
        return available
    }

    /// Compacts at most `limit` keys from `from` on, adding surviving revisions at or before
    /// `rev` to `available`; returns the key to resume from, nil when done.
    mutating func compact(_ rev: Int64, from: [UInt8], limit: Int, _ available: inout Set<Revision>) -> [UInt8]? {
        var empties: [[UInt8]] = []
        var next: [UInt8]?
        var n = 0
        tree.ascend(from: from) { ki in
            if n == limit { next = ki.key; return false }
            n += 1
            ki.compact(rev, &available)
            if ki.isEmpty { empties.append(ki.key) }
            return true
        }
        for k in empties { tree.remove(k) }
        return next
    }
}

/// One index change of a write transaction, kept so a rollback can take it back.
struct IndexUndo {
    var key: [UInt8]
    /// A delete (else a put).
    var tombstone: Bool
    /// The put created the key's entry in the index.
    var created: Bool
}
