extension WatchableStore {
    /// One catch-up round for unsynced watchers (etcd's syncWatchers), run by the sync worker:
    ///
    /// 1. under the state lock, pick up to `maxWatchersPerSync` unsynced watchers whose stream
    ///    has room; answer those whose next revision is compacted (and cancel them); note the
    ///    newest notified revision `upper`;
    /// 2. without any watch lock, read history from the smallest next revision to `upper`
    ///    (at most `catchUpBatchLimit` events, whole revisions);
    /// 3. under the state lock again, give each watcher its events as one response and move
    ///    those that reached the newest notified revision back to the synced group. A `notify`
    ///    that ran during step 2 leaves them unsynced for one more round, so nothing is lost.
    ///
    /// Also retries stream progress responses that waited for room. Returns true when it moved
    /// some watcher forward and unsynced watchers remain (worth another round at once).
    @discardableResult
    func syncOnce() -> Bool {
        let compactRev = store.compactedRevision
        let (chosen, from, upper): ([Watcher], Int64, Int64) = state.mutex.withLock {
            for reg in state.pendingProgress.values { state.answerProgressIfSynced(reg) }
            guard !state.unsynced.isEmpty, !state.shutdown else { return ([], 0, 0) }
            let upper = state.notifiedRev
            var chosen: [Watcher] = []
            var compacted: [Watcher] = []
            var caughtUp: [Watcher] = []
            var from = Int64.max
            for w in state.unsynced.values {
                if !w.buffer.hasRoom() { continue }
                if w.minRev < compactRev {
                    let r = WatchResponse(watchID: w.id, revision: upper, compactRevision: compactRev, canceled: true)
                    if w.buffer.offer(r, needPrevKV: false) { compacted.append(w) }
                    continue
                }
                if w.minRev > upper {
                    caughtUp.append(w)
                    continue
                }
                chosen.append(w)
                from = min(from, w.minRev)
                if chosen.count >= options.maxWatchersPerSync { break }
            }
            for w in compacted {
                state.detach(w)
                w.phase = .compacted
            }
            for w in caughtUp { state.makeSynced(w) }
            return (chosen, from, upper)
        }
        guard !chosen.isEmpty else { return false }

        let events: [Event]
        var top = upper
        do {
            let view = try store.read()
            defer { view.end() }
            // Defensive: should `notify` ever run before its revision is readable (a batch not yet
            // committed), read no further than the view sees; the watcher then stays unsynced.
            top = min(upper, view.rev)
            events = try view.changes(from: from, to: top, limit: options.catchUpBatchLimit)
        } catch {
            // Compacted meanwhile: the next round answers the watchers concerned. Otherwise
            // (a storage failure) wait for the next tick.
            return error == .compacted
        }
        options.afterHistoryRead?()
        let limit = options.catchUpBatchLimit
        let upTo = limit > 0 && events.count >= limit ? events[events.count - 1].kv.modRevision : top

        return state.mutex.withLock {
            var progressed = false
            for w in chosen where w.phase == .unsynced {
                var evs: [Event] = []
                for e in events where e.kv.modRevision >= w.minRev && w.range.contains(e.kv.key) { evs.append(e) }
                if !evs.isEmpty && !w.send(evs, revision: upTo) { continue }
                if upTo + 1 > w.minRev {
                    progressed = true
                    w.minRev = upTo + 1
                }
                if upTo >= state.notifiedRev { state.makeSynced(w) }
            }
            return progressed && !state.unsynced.isEmpty
        }
    }

    /// Runs `syncOnce` until it stops making progress (tests; bounded).
    func syncUntilIdle(maxRounds: Int = 10_000) {
        var n = 0
        while syncOnce() && n < maxRounds { n += 1 }
    }

    /// The progress tick (v3rpc's progressTicker): every `progressNotify` watcher that had no
    /// events since the previous tick and is synced gets an empty response at the newest
    /// notified revision (dropped if its buffer is full: it is behind, events will come).
    func progressTick() {
        state.mutex.withLock {
            let rev = state.notifiedRev
            for reg in state.registries.values {
                for w in reg.watchers.values where w.progressNotify {
                    if w.progressQuiet && w.phase == .synced {
                        _ = w.buffer.offer(WatchResponse(watchID: w.id, revision: rev), needPrevKV: false)
                    }
                    w.progressQuiet = true
                }
            }
        }
    }
}
