/// Primary side: expiry, keepalive and leadership changes. Any thread.
extension Lessor {
    /// A keepalive: restarts lease `id`'s countdown at its full TTL and returns that TTL.
    ///
    /// etcd answers a renew of a lease that has expired but is not yet revoked only once the
    /// revoke is applied, with "not found"; this returns `.leaseNotFound` at once instead (the
    /// revoke is on its way: `expiredLeases` keeps offering the lease until it is revoked).
    /// When not primary nothing changes and the TTL is returned: the server should check
    /// `isPrimary` and forward, as etcd's LeaseRenew does.
    /// - Throws: `.leaseNotFound`.
    public func renew(id: Int64) throws(LeaseError) -> Int64 {
        let t = nowNanos()
        let ttl: Int64? = state.withLock { s in
            guard let l = s.leases[id] else { return nil }
            guard s.primary else { return l.ttl }
            if l.expiry <= t { return nil }
            let expiry = saturatingAdd(t, nanos(seconds: l.ttl))
            s.leases[id]!.expiry = expiry
            // Keepalives only push expiries later, so the heap entry usually stays put and
            // `expiredLeases` moves it when it surfaces: O(1) per keepalive. Only an earlier
            // expiry (after a promote with a large extend) must move it now.
            if let queued = s.queue.time(of: id), queued <= expiry {} else { s.queue.set(id, time: expiry) }
            // A checkpointed remainder no longer applies once renewed; etcd proposes a
            // checkpoint of 0 to clear it everywhere (see `dueCheckpoints`).
            if s.checkpointInterval != nil, l.remainingTTL > 0 { s.pendingClears.insert(id) }
            return l.ttl
        }
        guard let ttl else { throw .leaseNotFound }
        return ttl
    }

    /// etcd's revokeExpiredLeases/findExpiredLeases: up to `limit` leases whose expiry has
    /// passed, earliest first, for the server to propose revokes of (etcd proposes at most
    /// `revokeRate / 2` every 500 ms; the pacing is the caller's).
    ///
    /// A lease handed out here is withheld for the retry interval (3 s) before it is handed out
    /// again, in case its revoke was lost (a leader change, a failed proposal). Empty when not
    /// primary. O((k + r) log n) for k leases returned and r leases renewed since they were
    /// queued.
    public func expiredLeases(limit: Int) -> [Int64] {
        guard limit > 0 else { return [] }
        let t = nowNanos()
        return state.withLock { s in
            guard s.primary else { return [] }
            var out: [Int64] = []
            while out.count < limit, let top = s.queue.first, top.time <= t {
                guard let l = s.leases[top.id] else {
                    s.queue.remove(top.id)
                    continue
                }
                if l.expiry <= t {
                    s.queue.set(top.id, time: saturatingAdd(t, retryNanos))
                    out.append(top.id)
                } else {
                    // Renewed since it was queued (renew leaves the heap alone): requeue at the
                    // real expiry.
                    s.queue.set(top.id, time: l.expiry)
                }
            }
            return out
        }
    }

    /// Becomes primary (leader elected, or a single member started): every lease counts down
    /// from now + its TTL (or checkpointed remainder) + `extend`, etcd's Promote.
    ///
    /// With `revokeRate` leases or more, expiries that pile up are spread as etcd does: within
    /// each one-second window at most 3/4 x `revokeRate` leases keep their expiry, the rest are
    /// pushed back in proportion, so a restart never asks for a burst of revokes. Leases are
    /// visited in (expiry, ID) order, so the outcome is deterministic.
    public func promote(extend: Duration) {
        let t = nowNanos()
        let ext = extend.clampedNanoseconds
        state.withLock { s in
            s.primary = true
            s.queue.removeAll()
            s.checkpoints.removeAll()
            var order: [(expiry: Int64, id: Int64)] = []
            order.reserveCapacity(s.leases.count)
            // Index walk: mutating values in place keeps the dictionary's storage unique (a
            // `for in keys` loop would hold a second reference and copy it).
            var i = s.leases.startIndex
            while i != s.leases.endIndex {
                let l = s.leases.values[i]
                let expiry = saturatingAdd(saturatingAdd(t, ext), nanos(seconds: l.refreshTTL))
                s.leases.values[i].expiry = expiry
                s.queue.set(l.id, time: expiry)
                scheduleCheckpoint(&s, l, now: t)
                order.append((expiry, l.id))
                s.leases.formIndex(after: &i)
            }
            guard order.count >= Lessor.revokeRate else { return }
            order.sort { $0.expiry < $1.expiry || ($0.expiry == $1.expiry && $0.id < $1.id) }
            spread(&s, order, now: t, extend: ext)
        }
    }

    /// The pile-up adjustment of etcd's Promote, on remaining times (nanoseconds from `now`).
    private func spread(_ s: inout State, _ order: [(expiry: Int64, id: Int64)], now t: Int64, extend: Int64) {
        let second = nanosPerSecond
        let targetPerSecond = (3 * Lessor.revokeRate) / 4
        var baseWindow = order[0].expiry - t
        var nextWindow = saturatingAdd(baseWindow, second)
        var expires = 0
        for (expiry, id) in order {
            let remaining = expiry - t
            if remaining > nextWindow {
                baseWindow = remaining
                nextWindow = saturatingAdd(baseWindow, second)
                expires = 1
                continue
            }
            expires += 1
            if expires <= targetPerSecond { continue }
            // Later leases in a crowded window wait in proportion to the crowd, less how far
            // ahead of the window's start they already are.
            var rateDelay = Double(second) * (Double(expires) / Double(targetPerSecond))
            rateDelay -= Double(remaining - baseWindow)
            let delay = Int64(rateDelay)
            nextWindow = saturatingAdd(baseWindow, delay)
            let newExpiry = saturatingAdd(saturatingAdd(t, saturatingAdd(delay, extend)),
                                          nanos(seconds: s.leases[id]!.refreshTTL))
            s.leases[id]!.expiry = newExpiry
            s.queue.set(id, time: newExpiry)
        }
    }

    /// Stops being primary (lost leadership): no lease counts down until the next `promote`.
    public func demote() {
        state.withLock { s in
            s.primary = false
            s.queue.removeAll()
            s.checkpoints.removeAll()
            s.pendingClears.removeAll()
            var i = s.leases.startIndex
            while i != s.leases.endIndex {
                s.leases.values[i].expiry = forever
                s.leases.formIndex(after: &i)
            }
        }
    }
}
