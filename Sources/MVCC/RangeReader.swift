import Storage

extension KVStore {
    /// etcd's rangeKeys: the keys in `[key, end)` as of `options.rev`, read through `reader`
    /// (a read snapshot or the write transaction itself). `curRev` is the newest revision the
    /// reader may see; `generation` is the index generation of a read view (nil: the current one,
    /// as for the writer).
    func rangeKeys(_ reader: some BucketReading, _ key: [UInt8], _ end: [UInt8], curRev: Int64,
                   _ options: RangeOptions, generation: IndexGeneration? = nil) throws(MVCCError) -> RangeResult {
        var rev = options.rev
        if rev > curRev { throw .futureRev }
        if rev <= 0 { rev = curRev }
        let atRev = rev
        let revs: [Revision] = try index.read { (st) throws(MVCCError) -> [Revision] in
            let (tree, compactRev) = st.view(generation)
            if atRev < compactRev { throw .compacted }
            var out: [Revision] = []
            tree.visit(key, end, atRev: atRev) { _, r in
                out.append(r)
                return true
            }
            return out
        }
        if revs.isEmpty || options.countOnly { return RangeResult(kvs: [], count: revs.count, rev: curRev) }
        var limit = revs.count
        if options.limit > 0 && options.limit < Int64(limit) { limit = Int(options.limit) }
        var kvs: [KeyValue] = []
        kvs.reserveCapacity(limit)
        for r in revs[..<limit] {
            guard let kv = try fetch(reader, r, skipValue: options.keysOnly) else {
                throw .corrupt("revision \(r) is in the index but not in the key bucket")
            }
            kvs.append(kv)
        }
        return RangeResult(kvs: kvs, count: revs.count, rev: curRev)
    }

    /// The stored KeyValue at revision `r` (never a tombstone), or nil.
    func fetch(_ reader: some BucketReading, _ r: Revision, skipValue: Bool = false) throws(MVCCError) -> KeyValue? {
        var keyBuf = (UInt64(0), UInt64(0), UInt64(0))
        return try withUnsafeMutableBytes(of: &keyBuf) { (raw) throws(MVCCError) -> KeyValue? in
            r.write(into: raw)
            let k = UnsafeRawBufferPointer(rebasing: raw[0..<Revision.keyLength])
            let found: Result<KeyValue, MVCCError>? = try storage {
                try reader.withValue(.key, key: k) { v in
                    Result { () throws(MVCCError) in try KeyValueCodec.decode(v, skipValue: skipValue) }
                }
            }
            return try found?.get()
        }
    }
}

/// A consistent read-only view at the revision current when it was opened; concurrent with the
/// writer and other views. Use it from one task at a time; `end()` (or releasing it) frees the
/// LMDB snapshot.
public final class ReadView {
    let store: KVStore
    let tx: ReadTx
    /// The revision this view reads at by default.
    public let rev: Int64
    /// The compaction revision when the view was opened (etcd's FirstRev).
    public let compactRev: Int64
    /// The index generation the view was opened in; after a `KVStore.reload` it still reads the
    /// index of the data its snapshot holds.
    let generation: IndexGeneration
    private var counts = OpCounts()

    init(store: KVStore, tx: ReadTx, rev: Int64, compactRev: Int64, generation: IndexGeneration) {
        self.store = store
        self.tx = tx
        self.rev = rev
        self.compactRev = compactRev
        self.generation = generation
    }

    /// Keys in `[key, end)` (`end` empty: just `key`; `end` == [0]: every key >= `key`).
    /// Throws `.futureRev` when `options.rev` > `rev`, `.compacted` when it is below the
    /// compaction revision.
    public func range(_ key: [UInt8], _ end: [UInt8] = [], options: RangeOptions = RangeOptions())
        throws(MVCCError) -> RangeResult {
        counts.ranges += 1
        return try store.rangeKeys(tx, key, end, curRev: rev, options, generation: generation)
    }

    /// Every change with main revision in `[from, to]` (to clamped to `rev`), oldest first, as
    /// watch catch-up needs them (etcd's unsynced watchers read the key bucket the same way).
    /// Deletes carry the key and the deleting revision; `prevKV` is not filled in. Stops after
    /// `limit` events when `limit` > 0, at a main revision boundary so a transaction is never
    /// split. Throws `.compacted` when `from` is below the compaction revision.
    public func changes(from: Int64, to: Int64 = .max, limit: Int = 0) throws(MVCCError) -> [Event] {
        let compacted = store.index.read { $0.view(generation).compactRev }
        if from < compacted { throw .compacted }
        let upper = min(to, rev)
        guard from <= upper else { return [] }
        var out: [Event] = []
        try storage {
            try tx.forEach(.key, from: Revision(main: max(from, 0)).keyBytes(), to: Revision(main: upper + 1).keyBytes()) { k, v in
                guard let r = Revision(keyBytes: k) else { throw MVCCError.corrupt("bad revision key") }
                if limit > 0 && out.count >= limit && r.main != out[out.count - 1].kv.modRevision { return false }
                var kv = try KeyValueCodec.decode(v)
                if Revision.isTombstone(k) {
                    kv.modRevision = r.main
                    out.append(Event(kind: .delete, kv: kv))
                } else {
                    out.append(Event(kind: .put, kv: kv))
                }
                return true
            }
        }
        return out
    }

    /// Releases the snapshot.
    public func end() {
        counts.flush()
        tx.end()
    }
}
