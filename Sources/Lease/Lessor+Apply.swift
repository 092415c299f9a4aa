import Storage

/// Apply side: called only by the server's apply thread, in log order.
extension Lessor {
    /// Applies a LeaseGrant: creates lease `id` with `ttl` seconds (raised to `minTTL`) and
    /// stores it in `tx`, the write transaction the caller is applying in.
    ///
    /// The server picks the ID before proposing (etcd's reqIDGen masked positive), so ID 0 is
    /// refused here as `.leaseNotFound` (etcd's Grant does the same). The new lease counts down
    /// from now if this lessor is primary, else it waits for `promote`.
    /// - Throws: `.leaseNotFound` (ID 0), `.ttlTooLarge` (`ttl > maxTTL`), `.leaseExists`,
    ///   `.storage` (nothing changed in memory; abort `tx`).
    public func grant(id: Int64, ttl: Int64, in tx: BatchTx) throws(LeaseError) -> LeaseInfo {
        guard id != 0 else { throw .leaseNotFound }
        guard ttl <= Lessor.maxTTL else { throw .ttlTooLarge }
        if state.withLock({ $0.leases[id] != nil }) { throw .leaseExists }
        let ttl = max(ttl, minTTL)
        do {
            try tx.put(.lease, LeaseCodec.key(id), LeaseCodec.encode(.init(id: id, ttl: ttl, remainingTTL: 0)))
        } catch {
            throw LeaseError(storage: error)
        }
        let t = nowNanos()
        return state.withLock { s in
            var entry = LeaseEntry(id: id, ttl: ttl, remainingTTL: 0, expiry: forever, keys: [])
            if s.primary {
                entry.expiry = saturatingAdd(t, nanos(seconds: ttl))
                s.queue.set(id, time: entry.expiry)
            }
            s.leases[id] = entry
            scheduleCheckpoint(&s, entry, now: t)
            return LeaseInfo(id: id, ttl: ttl, remaining: remainingSeconds(entry, t), keyCount: 0)
        }
    }

    /// `grant(id:ttl:in:)` in a write transaction of its own, committed before it returns.
    public func grant(id: Int64, ttl: Int64) throws(LeaseError) -> LeaseInfo {
        try inOwnTransaction { tx throws(LeaseError) in try grant(id: id, ttl: ttl, in: tx) }
    }

    /// Applies a LeaseRevoke (client revoke or expiry): removes lease `id` from memory and from
    /// the `lease` bucket in `tx`, and returns its keys in byte order so the caller deletes them
    /// in the same transaction and revision (the order keeps every member's backend identical).
    /// - Throws: `.leaseNotFound`, `.storage` (nothing changed in memory; abort `tx`).
    public func revoke(id: Int64, in tx: BatchTx) throws(LeaseError) -> [[UInt8]] {
        guard state.withLock({ $0.leases[id] != nil }) else { throw .leaseNotFound }
        do {
            try tx.delete(.lease, LeaseCodec.key(id))
        } catch {
            throw LeaseError(storage: error)
        }
        let keys = state.withLock { s -> Set<[UInt8]> in
            s.queue.remove(id)
            s.checkpoints.remove(id)
            s.pendingClears.remove(id)
            return s.leases.removeValue(forKey: id)?.keys ?? []
        }
        return keys.sorted(by: bytesLess)
    }

    /// `revoke(id:in:)` in a write transaction of its own, committed before it returns.
    public func revoke(id: Int64) throws(LeaseError) -> [[UInt8]] {
        try inOwnTransaction { tx throws(LeaseError) in try revoke(id: id, in: tx) }
    }

    /// Records that `key` now carries lease `id` (a put with that lease, or a key restored from
    /// MVCC at start-up). Idempotent.
    /// - Throws: `.leaseNotFound`.
    public func attach(id: Int64, key: [UInt8]) throws(LeaseError) {
        let found = state.withLock { s in
            guard s.leases[id] != nil else { return false }
            s.leases[id]!.keys.insert(key)
            return true
        }
        if !found { throw .leaseNotFound }
    }

    /// Records that `key` no longer carries lease `id` (a put replaced its lease, or a delete
    /// removed the key). Idempotent.
    /// - Throws: `.leaseNotFound`.
    public func detach(id: Int64, key: [UInt8]) throws(LeaseError) {
        let found = state.withLock { s in
            guard s.leases[id] != nil else { return false }
            s.leases[id]!.keys.remove(key)
            return true
        }
        if !found { throw .leaseNotFound }
    }

    func inOwnTransaction<R>(_ body: (BatchTx) throws(LeaseError) -> R) throws(LeaseError) -> R {
        let tx: BatchTx
        do { tx = try backend.beginWrite() } catch { throw LeaseError(storage: error) }
        let r: R
        do {
            r = try body(tx)
        } catch {
            tx.abort()
            throw error
        }
        do { try tx.commit() } catch { throw LeaseError(storage: error) }
        return r
    }
}
