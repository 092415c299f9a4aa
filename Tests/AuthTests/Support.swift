import Glibc
@testable import Auth
import Storage
import Testing

/// A fresh LMDB file in a temporary directory, removed with the value's owner via `remove()`.
final class TempBackend {
    let dir: String
    let backend: Backend

    init() throws {
        var template = Array("/tmp/auth-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        dir = String(cString: p!)
        backend = try Backend(path: dir + "/db", options: .init(quotaBytes: 64 << 20))
    }

    deinit { _ = system("rm -rf '\(dir)'") }

    /// Runs one apply-side call in its own committed transaction.
    func apply<R>(_ body: (BatchTx) throws -> R) throws -> R { try backend.update(body) }
}

/// A store at bcrypt's cheapest cost, with simple tokens.
func makeStore(_ t: TempBackend, tokens: any TokenProvider = SimpleTokenProvider()) throws -> AuthStore {
    try AuthStore(backend: t.backend, tokens: tokens, bcryptCost: Bcrypt.minCost)
}

/// Expects `body` to throw exactly `error`.
func expectAuthError(_ error: AuthError, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(error), got success", sourceLocation: sourceLocation)
    } catch let e as AuthError {
        #expect(e == error, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(error), got \(error)", sourceLocation: sourceLocation)
    }
}
