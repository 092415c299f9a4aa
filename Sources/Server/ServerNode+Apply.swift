import EtcdProto
import Logging

/// The apply side of the pipeline (apply thread only): each durable entry is applied to the
/// store in log order, its index stored with the data, then its proposer is answered.
extension ServerNode {
    func applyBatch(_ batch: [(LogEntry, Proposal?)]) {
        guard let last = batch.last else { return }
        let session = storage.beginApply(lessor: lessor)
        var answers: [(@Sendable (ApplyResult) -> Void, ApplyResult)] = []
        answers.reserveCapacity(batch.count)
        for (entry, proposal) in batch {
            let result = apply(entry, request: proposal?.request, in: session)
            if let completion = proposal?.completion { answers.append((completion, result)) }
        }
        do {
            try session.finish(appliedIndex: last.0.index)
            for change in session.changes { watchable.notify(change.events, revision: change.revision) }
        } catch {
            // Nothing of the batch was kept: every write in it failed.
            logger.error("apply: cannot commit entries up to \(last.0.index): \(error)")
            for i in answers.indices where !answers[i].1.isFailure { answers[i].1 = .failure(error) }
        }
        let lastRelease = progress.withLock {
            $0.appliedIndex = last.0.index
            $0.committedIndex = max($0.committedIndex, last.0.index)
            return $0.releasedIndex
        }
        backendSize.store(storage.dbSize, ordering: .relaxed)
        for (completion, result) in answers { completion(result) }
        if last.0.index - lastRelease >= UInt64(max(options.snapshotCount, 1)) { releaseLog(through: last.0.index) }
    }

    /// Every `--snapshot-count` entries, as etcd snapshots: the backend is synced so it holds
    /// everything up to `index` durably, and the log before it may go.
    private func releaseLog(through index: UInt64) {
        do {
            try storage.syncBackend()
            progress.withLock { $0.releasedIndex = index }
            pipeline.allowRelease(through: index)
        } catch {
            logger.error("cannot sync the backend for a snapshot at \(index): \(error)")
        }
    }

    private func apply(_ entry: LogEntry, request known: Etcdserverpb_InternalRaftRequest?,
                       in session: ApplySession) -> ApplyResult
    {
        guard entry.kind == .normal, !entry.data.isEmpty else { return .none }
        guard let request = known ?? (try? Etcdserverpb_InternalRaftRequest(serializedBytes: entry.data)) else {
            logger.error("skipping an undecodable entry at index \(entry.index)")
            return .none
        }
        do throws(ServerError) {
            if let put = request.put {
                return .put(try session.write { w throws(ServerError) in try KVApply.put(put, in: w) })
            }
            if let delete = request.deleteRange {
                return .deleteRange(try session.write { w throws(ServerError) in try KVApply.deleteRange(delete, in: w) })
            }
            if let txn = request.txn {
                return .txn(try session.write { w throws(ServerError) in try KVApply.txn(txn, in: w) })
            }
            if let compaction = request.compaction {
                try session.compact(compaction.revision)
                var response = Etcdserverpb_CompactionResponse()
                var header = Etcdserverpb_ResponseHeader()
                header.revision = session.currentRevision
                response.header = header
                return .compaction(response)
            }
            if let grant = request.leaseGrant { return try applyLeaseGrant(grant, in: session) }
            if let revoke = request.leaseRevoke { return try applyLeaseRevoke(revoke, in: session) }
            if let alarm = request.alarm { return try applyAlarm(alarm, in: session) }
            if let v2 = request.v2 {
                applyV2(v2)
                return .none
            }
        } catch {
            return .failure(error)
        }
        return .none
    }

    /// v2 requests carry member attributes and the cluster version (etcd's publish).
    private func applyV2(_ r: Etcdserverpb_Request) {
        if r.path == "/0/members/\(Identity.hex(memberID))/attributes" {
            let urls = options.advertiseClientURLs.joined(separator: " ")
            logger.info("published {Name:\(options.name) ClientURLs:[\(urls)]} to cluster \(Identity.hex(clusterID))")
        } else if r.path == "/0/version" {
            logger.notice("set the initial cluster version to 3.4")
            Logger(label: "etcdserver/api").info("enabled capabilities for version 3.4")
        }
    }
}
