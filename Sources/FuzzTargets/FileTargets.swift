// Readers of files that come from elsewhere: bbolt databases (a peer's snapshot, `etcdctl
// snapshot restore`, an imported etcd data dir) and etcd's WAL segments and .snap files. They read
// paths, so each input is written to a scratch directory of this process first.
import Bbolt
import EtcdDataDir
import EtcdProto
import Raft
import Storage
import Transport

#if canImport(Glibc)
import Glibc
#endif

extension FuzzTargets {
    static let bboltFile = FuzzTarget(
        name: "bbolt", summary: "bbolt database reader (BboltFile): meta pages, bucket tree walk, freelist",
        run: { bytes in
            let path = Scratch.shared.write(bytes, name: "fuzz.db")
            guard let db = try? BboltFile(path: path) else { return }
            // Walk every bucket, nested ones too, bounded so a cyclic tree cannot run forever.
            var pending: [[[UInt8]]] = [[]]
            var visited = 0
            while let bucket = pending.popLast(), visited < 64 {
                visited += 1
                try? db.forEach(bucketPath: bucket) { e in
                    if e.isBucket, bucket.count < 8 { pending.append(bucket + [e.key]) }
                }
            }
            _ = try? db.bucketNames
            _ = try? db.get(bucket: "key", key: [0, 0, 0, 0, 0, 0, 0, 1])
            _ = try? db.freePages()
        },
        seeds: {
            // Small pages keep the seeds a few KB.
            let path = Scratch.shared.path("seed.db")
            do {
                let w = try BboltWriter(path: path, pageSize: 1024)
                try w.beginBucket("key")
                for i in 0..<40 { try w.put(Array("k\(1000 + i)".utf8), Array(repeating: UInt8(i), count: 20)) }
                try w.endBucket()
                try w.beginBucket("meta")
                try w.put(Array("consistent_index".utf8), [0, 0, 0, 0, 0, 0, 0, 9])
                try w.endBucket()
                try w.finish()
            } catch {
                preconditionFailure("bbolt seed: \(error)")
            }
            return [Scratch.read(path)]
        })

    static let etcdWAL = FuzzTarget(
        name: "etcd-wal", summary: "etcd 3.4 WAL segment decoder (EtcdWAL.readAll, validSnapshotMarks)",
        run: { bytes in
            let dir = Scratch.shared.path("wal")
            mkdir(dir, 0o700)
            _ = Scratch.shared.write(bytes, name: "wal/0000000000000000-0000000000000000.wal")
            _ = EtcdWAL.isEtcdWAL(dir: dir)
            let marks = (try? EtcdWAL.validSnapshotMarks(dir: dir)) ?? []
            for mark in [EtcdSnapshotMark(index: 0, term: 0)] + marks.suffix(2) {
                _ = try? EtcdWAL.readAll(dir: dir, from: mark)
            }
        },
        seeds: {
            [Scratch.read(fixture("Tests/EtcdDataDirTests/Fixtures/basic/member/wal/0000000000000000-0000000000000000.wal"))]
                .filter { !$0.isEmpty }
        })

    static let etcdSnap = FuzzTarget(
        name: "etcd-snap", summary: "etcd .snap file reader (EtcdSnap.read) and the membership it restores",
        run: { bytes in
            let path = Scratch.shared.write(bytes, name: "fuzz.snap")
            guard let snap = try? EtcdSnap.read(file: path) else { return }
            _ = try? Raft.Snapshot(snap)
        },
        seeds: {
            let snap = Raftpb_Snapshot(Raft.Snapshot(data: Array(#"{"Root":{"Path":"/","Nodes":{}}}"#.utf8),
                                                     metadata: SnapshotMetadata(confState: ConfState(voters: [1, 2]), index: 9, term: 2)))
            let data = snap.serializedBytes()
            var outer = Snappb_snapshot()
            outer.crc = data.withUnsafeBytes { CRC32C.update(0, $0) }
            outer.data = data
            return [outer.serializedBytes()]
        })
}

/// A per-process scratch directory under $TMPDIR for the file targets.
final class Scratch: @unchecked Sendable {  // used from one thread at a time (libFuzzer, replay)
    static let shared = Scratch()
    let dir: String

    private init() {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        dir = "\(base)/etcd-fuzz-\(getpid())"
        mkdir(dir, 0o700)
        atexit { Scratch.removeAll() }
    }

    func path(_ name: String) -> String { dir + "/" + name }

    /// Replaces `name` with `bytes`; returns its path.
    func write(_ bytes: [UInt8], name: String) -> String {
        let p = path(name)
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot create \(p)")
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                precondition(n > 0, "cannot write \(p)")
                off += n
            }
        }
        close(fd)
        return p
    }

    static func read(_ path: String) -> [UInt8] { readWholeFile(path) ?? [] }

    private static func removeAll() {
        let d = shared.dir
        for name in ["fuzz.db", "fuzz.snap", "seed.db", "wal/0000000000000000-0000000000000000.wal", "wal"] {
            remove(d + "/" + name)
        }
        rmdir(d)
    }
}

/// A file of the repository, when run from its root (seed generation only).
func fixture(_ relative: String) -> String { relative }

/// A whole file's bytes; nil when it cannot be opened. Shared with etcd-fuzz's corpus reader.
package func readWholeFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return out
}
