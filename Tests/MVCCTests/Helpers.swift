import Glibc
@testable import MVCC
import Storage
import XCTest

/// A store in a fresh temporary directory.
final class StoreFixture {
    let dir: String
    var backend: Backend!
    var store: KVStore!

    init(options: KVStore.Options = .init()) throws {
        var template = Array("/tmp/mvcc-test-XXXXXX".utf8CString)
        dir = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }!)
        try reopen(options: options)
    }

    /// Drops the store and backend and opens them again from disk.
    func reopen(options: KVStore.Options = .init()) throws {
        weak let old = backend
        store = nil
        backend = nil
        // Opening one LMDB file twice in a process is not allowed: the test must not hold on.
        precondition(old == nil, "a test still holds the previous store")
        backend = try Backend(path: dir + "/db", options: .init(quotaBytes: 256 << 20))
        store = try KVStore(backend: backend, options: options)
    }

    deinit { _ = system("rm -rf '\(dir)'") }
}

func b(_ s: String) -> [UInt8] { Array(s.utf8) }

extension KVStore {
    /// Puts in its own transaction; returns the revision.
    @discardableResult
    func put(_ k: String, _ v: String, lease: Int64 = 0) throws -> Int64 {
        let txn = try write()
        try txn.put(b(k), b(v), lease: lease)
        try txn.end()
        return txn.rev
    }

    @discardableResult
    func delete(_ k: String, _ end: String = "") throws -> Int64 {
        let txn = try write()
        let n = try txn.deleteRange(b(k), b(end)).deleted
        try txn.end()
        return n
    }

    func get(_ k: String, _ end: String = "", _ o: RangeOptions = .init()) throws -> RangeResult {
        let r = try read()
        defer { r.end() }
        return try r.range(b(k), b(end), options: o)
    }

    func keys(_ r: RangeResult) -> [String] { r.kvs.map { String(decoding: $0.key, as: UTF8.self) } }
}

/// A joinable pthread running a closure (tests only). `@unchecked Sendable`: `body` is set once
/// before the thread starts and `tid` is only read by `join()` after `pthread_create` wrote it.
final class TestThread: @unchecked Sendable {
    private var tid = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
        let ctx = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&tid, nil, { ctx in
            let me = Unmanaged<TestThread>.fromOpaque(ctx!).takeRetainedValue()
            me.body()
            return nil
        }, ctx)
    }

    func join() { pthread_join(tid, nil) }
}
