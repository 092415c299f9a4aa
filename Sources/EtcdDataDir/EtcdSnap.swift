import EtcdProto
import Storage

/// Reads etcd 3.4's raft snapshots (`<data-dir>/member/snap/%016x-%016x.snap`, term-index): a
/// `snappb.snapshot` whose `data` is a `raftpb.Snapshot` and whose `crc` is the CRC-32C of it.
public enum EtcdSnap {
    /// The newest usable snapshot, as etcd's `Snapshotter.LoadNewestAvailable` picks it.
    public struct Loaded: Sendable {
        public var snapshot: Raftpb_Snapshot
        public var file: String
        /// Newer files that could not be used, with why (etcd renames these `.broken`; we leave
        /// them in place, so that etcd still finds its directory as it left it).
        public var skipped: [EtcdDataDirError]

        public var mark: EtcdSnapshotMark {
            EtcdSnapshotMark(index: snapshot.metadata?.index ?? 0, term: snapshot.metadata?.term ?? 0)
        }
    }

    /// Reads and checks one `.snap` file.
    public static func read(file: String) throws(EtcdDataDirError) -> Raftpb_Snapshot {
        let bytes = try Files.read(file)
        guard !bytes.isEmpty else { throw .badSnap(file: file, reason: "empty file") }
        guard let outer = try? Snappb_snapshot(serializedBytes: bytes) else {
            throw .badSnap(file: file, reason: "malformed snappb.snapshot (truncated?)")
        }
        guard let data = outer.data, !data.isEmpty else { throw .badSnap(file: file, reason: "empty snapshot") }
        let crc = data.withUnsafeBytes { CRC32C.update(0, $0) }
        guard crc == outer.crc else { throw .badSnap(file: file, reason: "CRC mismatch") }
        guard let snap = try? Raftpb_Snapshot(serializedBytes: data) else {
            throw .badSnap(file: file, reason: "malformed raftpb.Snapshot")
        }
        return snap
    }

    /// The newest `.snap` in `dir` that reads cleanly and whose (index, term) is one of `marks`
    /// (the WAL's valid snapshot marks); nil when there is none (a member that never snapshotted
    /// starts from index 0).
    public static func loadNewestAvailable(dir: String, marks: [EtcdSnapshotMark]) -> Loaded? {
        let names = (Files.list(dir) ?? []).filter { parseHexPair($0, suffix: ".snap") != nil }.sorted(by: >)
        var skipped: [EtcdDataDirError] = []
        for name in names {
            let file = dir + "/" + name
            do {
                let snap = try read(file: file)
                let m = EtcdSnapshotMark(index: snap.metadata?.index ?? 0, term: snap.metadata?.term ?? 0)
                if marks.contains(m) { return Loaded(snapshot: snap, file: file, skipped: skipped) }
            } catch {
                skipped.append(error)
            }
        }
        return nil
    }
}
