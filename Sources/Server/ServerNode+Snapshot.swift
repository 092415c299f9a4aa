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

    /// Removes exports a crash left in `snapDir` (none can be in progress before the member starts).
    static func removeStaleExports(in snapDir: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: snapDir)) ?? []
        for name in names where name.hasPrefix(exportPrefix) && name.hasSuffix(".tmp") {
            try? FileManager.default.removeItem(atPath: snapDir + "/" + name)
        }
    }
}
