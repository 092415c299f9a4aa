import Foundation
import Storage

extension ServerNode {
    /// Exports the backend as an etcd 3.4 bbolt file (what Maintenance.Snapshot streams) into a
    /// temporary file under the member's snap directory, and returns its path and size. The
    /// caller deletes the file when done. Blocking: call off the event loop.
    public func exportSnapshot() throws(ServerError) -> (path: String, size: Int64) {
        let path = storage.snapDir + "/etcd-swift-export-\(UInt64.random(in: 0...UInt64.max)).tmp"
        do {
            let size = try storage.backend.exportBbolt(to: path)
            return (path, size)
        } catch {
            throw .internal("snapshot export failed: \(error)")
        }
    }
}
