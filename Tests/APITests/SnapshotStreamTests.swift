import Crypto
import EtcdProto
import Foundation
import GRPC
import NIOCore
import Synchronization
import XCTest

@testable import API

/// Maintenance.Snapshot's message shape, as etcd's v3rpc snapshot sends it.
final class SnapshotStreamTests: XCTestCase {
    func messages(streaming bytes: [UInt8]) async throws -> [Etcdserverpb_SnapshotResponse] {
        let path = NSTemporaryDirectory() + "snapshot-stream-\(getpid())-\(bytes.count).db"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let got = Mutex<[ByteBuffer]>([])
        let context = ServerContext(localPath: "/etcdserverpb.Maintenance/Snapshot", metadata: Metadata(), remoteAddress: nil)
        let stream = ResponseStream(local: context) { buffers in got.withLock { $0 += buffers } }
        try await MaintenanceService.stream(file: path, size: Int64(bytes.count), to: stream)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the file is unlinked once open")
        return try got.withLock { $0 }.map { try Etcdserverpb_SnapshotResponse(serializedBytes: Array($0.readableBytesView)) }
    }

    func testChunksCountDownThenTheSHA256() async throws {
        for size in [0, 1, 32 * 1024, 100_000] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let msgs = try await messages(streaming: bytes)
            XCTAssertEqual(msgs.count, (size + 32 * 1024 - 1) / (32 * 1024) + 1, "size \(size)")
            var sent = 0
            for m in msgs.dropLast() {
                XCTAssertLessThanOrEqual(m.blob.count, 32 * 1024)
                sent += m.blob.count
                XCTAssertEqual(m.remainingBytes, UInt64(size - sent))
                XCTAssertNil(m.header)
            }
            XCTAssertEqual(msgs.dropLast().flatMap(\.blob), bytes)
            XCTAssertEqual(msgs.last?.remainingBytes, 0)
            XCTAssertEqual(msgs.last?.blob, Array(SHA256.hash(data: bytes)))
        }
    }

    func testAShortFileIsAnErrorNotAHang() async throws {
        let path = NSTemporaryDirectory() + "snapshot-short-\(getpid()).db"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3])))
        let context = ServerContext(localPath: "/etcdserverpb.Maintenance/Snapshot", metadata: Metadata(), remoteAddress: nil)
        let stream = ResponseStream(local: context) { _ in }
        do {
            try await MaintenanceService.stream(file: path, size: 10, to: stream)
            XCTFail("a file shorter than announced must fail the call")
        } catch is GRPCStatus {}
    }
}
