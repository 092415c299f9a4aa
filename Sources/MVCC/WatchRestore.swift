extension WatchableStore {
    /// After the store's data was replaced (`KVStore.replaceContents(withCopyAt:growMap:)` or
    /// `Backend.replaceContents` + `KVStore.reload()`), as etcd's watchableStore.Restore: every
    /// synced watcher becomes unsynced, so the sync worker catches it up from the new data, from
    /// the first revision it has not had up to the store's new current revision, then syncs it
    /// again. A watcher whose next revision the new data has compacted away gets one response
    /// with the compaction revision and is cancelled, as on compaction. Watchers already unsynced
    /// simply carry on from the new data.
    ///
    /// The newest notified revision becomes the store's current revision: the revisions the copy
    /// brought are never passed to `notify`. Call from the apply thread (the one that calls
    /// `notify`), after the store was reloaded and before notifying any later revision. Raft only
    /// installs a snapshot ahead of what was applied, so the new revision is not below the old
    /// one; if it were, watchers would wait for the revisions they already had.
    public func restore() {
        // Read before the state lock: the store's index lock is never taken inside it.
        let current = store.currentRevision
        let woke: Bool = state.mutex.withLock {
            guard !state.shutdown else { return false }
            // A synced watcher has had every event up to the newest notified revision; its
            // `minRev` may be older (it is not advanced while synced) or later (a future start).
            let delivered = state.notifiedRev
            var moved = false
            for reg in state.registries.values {
                for w in reg.watchers.values where w.phase == .synced {
                    w.minRev = max(w.minRev, delivered + 1)
                    state.makeUnsynced(w)
                    moved = true
                }
            }
            state.synced = WatchGroup()
            state.notifiedRev = current
            return moved || !state.unsynced.isEmpty
        }
        if woke { worker.wake() }
    }
}
