import Crypto
import EtcdProto
import Foundation
import GRPC
import NIOCore
import Server

extension MaintenanceService {
    /// etcd's chunk size for snapshot responses (v3rpc snapshotSendBufferSize).
    static let snapshotChunk = 32 * 1024

    /// Maintenance.Snapshot as etcd 3.4 answers it: the backend as a bbolt file in 32 KiB chunks,
    /// each with the bytes still to come, then one last message holding the SHA-256 of all of
    /// them (etcdctl checks it and `snapshot restore` keeps it). The file is exported from one
    /// read transaction to a temporary file in the data dir, streamed from disk and deleted, so
    /// memory stays at a chunk whatever the backend's size. Root only when auth is on.
    func registerSnapshot(on router: GRPCRouter) {
        let node = self.node
        router.addServerStreaming("/etcdserverpb.Maintenance/Snapshot") { message, responses, context in
            let _: Etcdserverpb_SnapshotRequest = try ProtoCodec.decode(message)
            try await RequestCredentials.$current.withValue(RequestCredentials.from(context)) {
                do throws(ServerError) { try await node.checkAdmin() } catch { throw error.unconvertedAuth.grpcStatus }
            }
            let export: (path: String, size: Int64)
            do throws(ServerError) {
                export = try await offLoop { () throws(ServerError) in try node.exportSnapshot() }
            } catch { throw error.grpcStatus }
            defer { unlink(export.path) }
            try await Self.stream(file: export.path, size: export.size, to: responses)
        }
    }

    static func stream(file path: String, size: Int64, to responses: ResponseStream) async throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw GRPCStatus(code: .unknown, message: "snapshot: cannot open \(path)")
        }
        defer { try? handle.close() }
        // Unlinked now, read through the open handle: a crash mid-stream leaves no file behind.
        unlink(path)
        var hash = SHA256()
        var sent: Int64 = 0
        while sent < size {
            let chunk = try handle.read(upToCount: snapshotChunk) ?? Data()
            guard !chunk.isEmpty else { throw GRPCStatus(code: .unknown, message: "snapshot: file ended early") }
            hash.update(data: chunk)
            sent += Int64(chunk.count)
            var response = Etcdserverpb_SnapshotResponse()
            response.remainingBytes = UInt64(size - sent)
            response.blob = [UInt8](chunk)
            try await responses.send(ProtoCodec.encode(response))
        }
        var last = Etcdserverpb_SnapshotResponse()
        last.blob = Array(hash.finalize())
        try await responses.send(ProtoCodec.encode(last))
    }
}
