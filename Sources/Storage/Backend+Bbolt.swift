import Bbolt
import Glibc

extension Backend {
    /// Keys of the `meta` bucket that are etcd-swift's own bookkeeping (e.g. the WAL snapshot
    /// mark): etcd 3.4's meta bucket holds none such, so exports leave them out.
    public static let privateMetaPrefix = Array("etcd-swift-".utf8)

    /// Writes the backend as a bbolt file with etcd 3.4's buckets, as etcd's own backend would
    /// hold them, from ONE read transaction: writers go on meanwhile and the file shows the state
    /// at its start. Pages stream to `path` (memory stays small whatever the size); on failure
    /// the partial file is removed. Returns the file's size in bytes.
    @discardableResult
    public func exportBbolt(to path: String) throws -> Int64 {
        let tx = try read()
        defer { tx.end() }
        let writer = try BboltWriter(path: path)
        do {
            for bucket in Bucket.allCases {
                try writer.beginBucket(bucket.name)
                try tx.forEach(bucket) { key, value in
                    if bucket == .meta && key.starts(with: Self.privateMetaPrefix) { return true }
                    try writer.put(key, value)
                    return true
                }
                try writer.endBucket()
            }
            try writer.finish()
        } catch {
            writer.abort()
            unlink(path)
            throw error
        }
        return Int64(writer.pageCount) * Int64(writer.pageSize)
    }
}
