import EtcdMetrics
import Storage

extension KVStore {
    /// Physically compacts at `rev` (etcd's Compact): every key keeps its newest revision at or
    /// before `rev` unless that is a tombstone; older revisions leave the index and the key
    /// bucket. Throws `.compacted` when `rev` <= the last compaction and `.futureRev` when
    /// `rev` > the current revision.
    ///
    /// Runs to completion on the caller's thread in steps of `compactionBatchLimit` keys; it
    /// takes the LMDB write lock per step, so call it from the writer's thread and never inside an
    /// open `WriteTxn`. Readers at revisions >= `rev` are unaffected. A crash midway is finished
    /// at the next open.
    public func compact(_ rev: Int64) throws(MVCCError) {
        try index.write { (st) throws(MVCCError) in
            if rev <= st.compactRev { throw .compacted }
            if rev > st.currentRev { throw .futureRev }
            st.compactRev = rev
        }
        let revKey = Revision(main: rev).keyBytes()
        try storage { try backend.update { tx in try tx.put(.meta, MetaKey.scheduledCompact, revKey) } }

        var keep = Set<Revision>()
        var from: [UInt8]? = []
        while let f = from {
            from = index.write { $0.compact(rev, from: f, limit: options.compactionBatchLimit, &keep) }
        }

        let end = Revision(main: rev + 1).keyBytes()
        var start: [UInt8] = Revision(main: 0).keyBytes()
        let limit = options.compactionBatchLimit
        var done = false
        while !done {
            try storage {
                var removed = 0
                try backend.update { tx in
                    var batch: [[UInt8]] = []
                    try tx.forEach(.key, from: start, to: end) { k, _ in
                        batch.append([UInt8](k))
                        return batch.count < limit
                    }
                    for k in batch {
                        let r = k.withUnsafeBytes { Revision(keyBytes: $0)! }
                        if !keep.contains(r) { try tx.delete(.key, k); removed += 1 }
                    }
                    if batch.count < limit {
                        try tx.put(.meta, MetaKey.finishedCompact, revKey)
                        done = true
                    } else {
                        start = batch[batch.count - 1] + [0]
                    }
                }
                Meters.compactionKeys.increment(by: Int64(removed))
            }
        }
    }

    /// HashKV (etcd's HashByRev): CRC-32C over the `key` bucket name and the key/value bytes of
    /// every revision at or before `rev` that a compaction at `rev` would keep (all revisions
    /// after the last compaction count). `rev` 0 = current.
    public func hashByRev(_ rev: Int64) throws(MVCCError) -> HashResult {
        let (current, compacted) = index.read { ($0.currentRev, $0.compactRev) }
        if rev > 0 && rev <= compacted { throw .compacted }
        if rev > 0 && rev > current { throw .futureRev }
        let at = rev == 0 ? current : rev
        let keep = index.read { $0.keep(at) }
        let upper = Revision(main: at + 1)
        let lower = Revision(main: compacted + 1)
        var h = CRC32C.update(0, Array(Bucket.key.name.utf8))
        try storage {
            let tx = try backend.read()
            defer { tx.end() }
            try tx.forEach(.key) { k, v in
                guard let kr = Revision(keyBytes: k), kr < upper else { return false }
                if kr < lower && !keep.isEmpty && !keep.contains(kr) { return true }
                h = CRC32C.update(h, k)
                h = CRC32C.update(h, v)
                return true
            }
        }
        return HashResult(hash: h, currentRev: current, compactRev: compacted)
    }

    /// Maintenance.Hash (etcd's backend Hash): CRC-32C over every bucket, in name order, of the
    /// bucket name and each key and value, leaving out the consistent index.
    public func hash() throws(MVCCError) -> (hash: UInt32, rev: Int64) {
        let current = currentRevision
        var h: UInt32 = 0
        try storage {
            let tx = try backend.read()
            defer { tx.end() }
            for bucket in Bucket.allCases.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
                h = CRC32C.update(h, Array(bucket.name.utf8))
                try tx.forEach(bucket) { k, v in
                    if bucket == .meta && k.elementsEqual(MetaKey.consistentIndex) { return true }
                    h = CRC32C.update(h, k)
                    h = CRC32C.update(h, v)
                    return true
                }
            }
        }
        return (h, current)
    }
}
