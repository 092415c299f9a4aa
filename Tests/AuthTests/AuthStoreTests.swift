@testable import Auth
import Storage
import Testing

@Suite struct AuthStoreTests {
    /// root with role root, then auth on: what every enabled test starts from.
    func enabledStore(_ t: TempBackend) throws -> AuthStore {
        let s = try makeStore(t)
        try t.apply { tx in
            try s.userAdd(name: "root", password: "rootpw", options: nil, in: tx)
            try s.userGrantRole(user: "root", role: "root", in: tx)
            try s.enable(in: tx)
        }
        return s
    }

    @Test func freshStoreHasRevisionOneOnDisk() throws {
        let t = try TempBackend()
        let s = try makeStore(t)
        #expect(s.revision == 1)
        #expect(!s.isEnabled)
        let tx = try t.backend.read()
        #expect(try tx.get(.auth, Array("authRevision".utf8)) == [0, 0, 0, 0, 0, 0, 0, 1])
        tx.end()
    }

    @Test func enableNeedsRootUserWithRootRole() throws {
        let t = try TempBackend()
        let s = try makeStore(t)
        expectAuthError(.rootUserNotExist) { try t.apply { try s.enable(in: $0) } }
        try t.apply { try s.userAdd(name: "root", password: "x", options: nil, in: $0) }
        expectAuthError(.rootRoleNotExist) { try t.apply { try s.enable(in: $0) } }
        // Role root need not exist to be granted.
        try t.apply { try s.userGrantRole(user: "root", role: "root", in: $0) }
        let before = s.revision
        try t.apply { try s.enable(in: $0) }
        #expect(s.isEnabled)
        #expect(s.revision == before, "etcd's AuthEnable does not bump the revision")
        try t.apply { try s.enable(in: $0) }  // twice is fine
        try t.apply { try s.disable(in: $0) }
        #expect(!s.isEnabled)
        #expect(s.revision == before + 1)
    }

    @Test func revisionBumpsExactlyOnChanges() throws {
        let t = try TempBackend()
        let s = try makeStore(t)
        var rev = s.revision
        func expectBump(_ n: UInt64, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                        _ body: (BatchTx) throws -> Void) throws {
            try t.apply(body)
            #expect(s.revision == rev + n, "\(what)", sourceLocation: sourceLocation)
            rev = s.revision
        }
        try expectBump(1, "user add") { try s.userAdd(name: "u", password: "p", options: nil, in: $0) }
        try expectBump(1, "role add") { try s.roleAdd(name: "r", in: $0) }
        try expectBump(1, "grant role") { try s.userGrantRole(user: "u", role: "r", in: $0) }
        try expectBump(0, "grant role again") { try s.userGrantRole(user: "u", role: "r", in: $0) }
        try expectBump(1, "grant perm") { try s.roleGrantPermission(name: "r", perm: Permission(type: .read, key: Array("a".utf8)), in: $0) }
        try expectBump(1, "revoke perm") { try s.roleRevokePermission(name: "r", key: Array("a".utf8), rangeEnd: [], in: $0) }
        try expectBump(1, "passwd") { try s.userChangePassword(name: "u", password: "q", in: $0) }
        try expectBump(1, "revoke role") { try s.userRevokeRole(name: "u", role: "r", in: $0) }
        try expectBump(1, "role delete") { try s.roleDelete(name: "r", in: $0) }
        try expectBump(1, "user delete") { try s.userDelete(name: "u", in: $0) }
        try expectBump(0, "disable while disabled") { try s.disable(in: $0) }
    }

    @Test func etcdErrors() throws {
        let t = try TempBackend()
        let s = try makeStore(t)
        expectAuthError(.userEmpty) { try t.apply { try s.userAdd(name: "", password: "", options: nil, in: $0) } }
        expectAuthError(.roleEmpty) { try t.apply { try s.roleAdd(name: "", in: $0) } }
        try t.apply { try s.userAdd(name: "u", password: "p", options: nil, in: $0) }
        expectAuthError(.userAlreadyExist) { try t.apply { try s.userAdd(name: "u", password: "p", options: nil, in: $0) } }
        expectAuthError(.userNotFound) { try t.apply { try s.userDelete(name: "nobody", in: $0) } }
        expectAuthError(.userNotFound) { try t.apply { try s.userChangePassword(name: "nobody", password: "x", in: $0) } }
        expectAuthError(.userNotFound) { _ = try s.userGet("nobody") }
        expectAuthError(.roleNotFound) { try t.apply { try s.userGrantRole(user: "u", role: "nope", in: $0) } }
        expectAuthError(.userNotFound) { try t.apply { try s.userGrantRole(user: "nobody", role: "root", in: $0) } }
        try t.apply { try s.roleAdd(name: "r", in: $0) }
        expectAuthError(.roleAlreadyExist) { try t.apply { try s.roleAdd(name: "r", in: $0) } }
        expectAuthError(.roleNotGranted) { try t.apply { try s.userRevokeRole(name: "u", role: "r", in: $0) } }
        expectAuthError(.permissionNotGranted) { try t.apply { try s.roleRevokePermission(name: "r", key: [1], rangeEnd: [], in: $0) } }
        expectAuthError(.roleNotFound) { _ = try s.roleGet("nope") }
        expectAuthError(.roleNotFound) { try t.apply { try s.roleDelete(name: "nope", in: $0) } }
        expectAuthError(.authNotEnabled) { _ = try s.checkPassword(name: "u", password: "p") }
    }

    @Test func rootIsProtectedWhileEnabled() throws {
        let t = try TempBackend()
        let s = try enabledStore(t)
        expectAuthError(.invalidAuthManagement) { try t.apply { try s.userDelete(name: "root", in: $0) } }
        expectAuthError(.invalidAuthManagement) { try t.apply { try s.userRevokeRole(name: "root", role: "root", in: $0) } }
        expectAuthError(.invalidAuthManagement) { try t.apply { try s.roleDelete(name: "root", in: $0) } }
    }

    @Test func passwordsAndNoPasswordUsers() throws {
        let t = try TempBackend()
        let s = try enabledStore(t)
        #expect(try s.checkPassword(name: "root", password: "rootpw") == s.revision)
        expectAuthError(.authFailed) { _ = try s.checkPassword(name: "root", password: "wrong") }
        expectAuthError(.authFailed) { _ = try s.checkPassword(name: "nobody", password: "x") }
        try t.apply { try s.userAdd(name: "np", password: "", options: UserOptions(noPassword: true), in: $0) }
        #expect(s.user("np")?.password == [])
        expectAuthError(.noPasswordUser) { _ = try s.checkPassword(name: "np", password: "") }
        expectAuthError(.authFailed) { _ = try s.authenticate(name: "np", tokenPrefix: "abc", index: 9) }
        try t.apply { try s.userChangePassword(name: "root", password: "new", in: $0) }
        expectAuthError(.authFailed) { _ = try s.checkPassword(name: "root", password: "rootpw") }
        _ = try s.checkPassword(name: "root", password: "new")
    }

    @Test func simpleTokensNameTheirUserUntilInvalidated() throws {
        let t = try TempBackend()
        let s = try enabledStore(t)
        let token = try s.authenticate(name: "root", tokenPrefix: "abcdefghijklmnop", index: 42)
        #expect(token == "abcdefghijklmnop.42")
        #expect(s.tokens.requiredIndex(of: token) == 42)
        #expect(try s.authInfo(token: token) == AuthInfo(username: "root", revision: s.revision))
        expectAuthError(.invalidAuthToken) { _ = try s.authInfo(token: "nope.42") }
        #expect(try s.authInfo(token: nil) == nil)
        try t.apply { try s.userChangePassword(name: "root", password: "other", in: $0) }
        expectAuthError(.invalidAuthToken) { _ = try s.authInfo(token: token) }
        let again = try s.authenticate(name: "root", tokenPrefix: "bcdefghijklmnopq", index: 50)
        try t.apply { try s.disable(in: $0) }
        expectAuthError(.authNotEnabled) { _ = try s.authenticate(name: "root", tokenPrefix: "x", index: 51) }
        expectAuthError(.invalidAuthToken) { _ = try s.authInfo(token: again) }
    }

    @Test func permissionChecks() throws {
        let t = try TempBackend()
        let s = try enabledStore(t)
        try t.apply { tx in
            try s.userAdd(name: "u", password: "p", options: nil, in: tx)
            try s.roleAdd(name: "r", in: tx)
            try s.roleGrantPermission(name: "r", perm: Permission(type: .read, key: Array("foo".utf8)), in: tx)
            try s.roleGrantPermission(name: "r", perm: Permission(type: .readWrite, key: Array("a".utf8), rangeEnd: Array("c".utf8)), in: tx)
            try s.roleGrantPermission(name: "r", perm: Permission(type: .write, key: Array("z".utf8), rangeEnd: [0]), in: tx)
            try s.userGrantRole(user: "u", role: "r", in: tx)
        }
        let u = AuthInfo(username: "u", revision: s.revision)
        let k = { (x: String) in Array(x.utf8) }
        try s.checkRange(u, key: k("foo"), rangeEnd: [])
        expectAuthError(.permissionDenied) { try s.checkPut(u, key: k("foo")) }
        expectAuthError(.permissionDenied) { try s.checkRange(u, key: k("foo"), rangeEnd: k("fop")) }
        try s.checkRange(u, key: k("a"), rangeEnd: k("c"))
        try s.checkDeleteRange(u, key: k("b"), rangeEnd: k("bz"))
        expectAuthError(.permissionDenied) { try s.checkRange(u, key: k("a"), rangeEnd: k("d")) }
        try s.checkPut(u, key: k("zzz"))
        try s.checkDeleteRange(u, key: k("z"), rangeEnd: [0])
        expectAuthError(.permissionDenied) { try s.checkRange(u, key: k("z"), rangeEnd: []) }
        // Root sees everything; an unknown user nothing; a stale revision or no user is refused.
        try s.checkDeleteRange(AuthInfo(username: "root", revision: s.revision), key: [0], rangeEnd: [0])
        expectAuthError(.permissionDenied) { try s.checkRange(AuthInfo(username: "x", revision: s.revision), key: k("a"), rangeEnd: []) }
        expectAuthError(.authOldRevision) { try s.checkRange(AuthInfo(username: "u", revision: s.revision - 1), key: k("a"), rangeEnd: []) }
        expectAuthError(.userEmpty) { try s.checkRange(nil, key: k("a"), rangeEnd: []) }
        // Admin calls.
        try s.checkAdmin(AuthInfo(username: "root", revision: s.revision))
        expectAuthError(.permissionDenied) { try s.checkAdmin(u) }
        expectAuthError(.userNotFound) { try s.checkAdmin(AuthInfo(username: "ghost", revision: 1)) }
        expectAuthError(.userEmpty) { try s.checkAdmin(nil) }
        // Disabled: nothing is checked.
        try t.apply { try s.disable(in: $0) }
        try s.checkPut(nil, key: k("anything"))
        try s.checkAdmin(nil)
    }

    @Test func grantUpdatesTypeAndKeepsKeyOrder() throws {
        let t = try TempBackend()
        let s = try makeStore(t)
        try t.apply { tx in
            try s.roleAdd(name: "r", in: tx)
            for key in ["m", "b", "x"] {
                try s.roleGrantPermission(name: "r", perm: Permission(type: .read, key: Array(key.utf8)), in: tx)
            }
            try s.roleGrantPermission(name: "r", perm: Permission(type: .write, key: Array("b".utf8)), in: tx)
        }
        let perms = try s.roleGet("r")
        #expect(perms.map { String(decoding: $0.key, as: UTF8.self) } == ["b", "m", "x"])
        #expect(perms[0].type == .write)
    }

    @Test func roleDeleteStripsUsersAndEverythingSurvivesReopen() throws {
        let t = try TempBackend()
        do {
            let s = try makeStore(t)
            try t.apply { tx in
                try s.userAdd(name: "b", password: "p", options: nil, in: tx)
                try s.userAdd(name: "a", password: "p", options: UserOptions(noPassword: true), in: tx)
                try s.roleAdd(name: "r1", in: tx)
                try s.roleAdd(name: "r2", in: tx)
                try s.userGrantRole(user: "b", role: "r2", in: tx)
                try s.userGrantRole(user: "b", role: "r1", in: tx)
                try s.roleGrantPermission(name: "r2", perm: Permission(type: .readWrite, key: [1, 2], rangeEnd: [0]), in: tx)
                try s.roleDelete(name: "r1", in: tx)
            }
            #expect(try s.userGet("b") == ["r2"])
        }
        let s = try makeStore(t)
        #expect(s.userList() == ["a", "b"])
        #expect(s.roleList() == ["r2"])
        #expect(try s.userGet("b") == ["r2"])
        #expect(s.user("a")?.noPassword == true)
        #expect(try s.roleGet("r2") == [Permission(type: .readWrite, key: [1, 2], rangeEnd: [0])])
        #expect(s.revision == 9)
    }
}
