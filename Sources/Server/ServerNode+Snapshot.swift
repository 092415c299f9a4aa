import Foundation
import Storage

extension ServerNode {
    /// Exports the backend as an etcd 3.4 bbolt file (what Maintenance.Snapshot streams) into a
    /// temporary file under the member's snap directory, and returns its path and size. The
    /// caller deletes the file when done. Blocking: call off the event loop.
    public func exportSnapshot() throws(ServerError) -> (path: String, size: Int64) {
        let path = storage.snapDir + "/\(Self.exportPrefix)\(UInt64.random(in: 0...UInt64.max)).tmp"
        do {
            let size = try storage.backend.exportBbolt(to: path)
            return (path, size)
        } catch {
            throw .internal("snapshot export failed: \(error)")
        }
    }
}

extension ServerNode {
    static let exportPrefix = "etcd-swift-export-"

    /// Removes what a crash left half made in `snapDir` (nothing can be in progress before the
    /// member starts): snapshot-file exports, backend exports for peers, received snapshots being
    /// converted, and the receiver's unfinished downloads.
    static func removeStaleExports(in snapDir: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: snapDir)) ?? []
        for name in names where isStale(name) {
            try? FileManager.default.removeItem(atPath: snapDir + "/" + name)
        }
    }

    static func isStale(_ name: String) -> Bool {
        if name.hasPrefix(exportPrefix) && name.hasSuffix(".tmp") { return true }
        if name.hasPrefix("send-") && name.hasSuffix(".snap.db.tmp") { return true }
        if name.hasSuffix(".snap.db.lmdb") { return true }
        // SnapshotReceiver's mkstemp template: "tmp" and six characters, no extension.
        return name.count == 9 && name.hasPrefix("tmp") && !name.contains(".")
    }
}
