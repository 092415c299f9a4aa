import Storage
import Synchronization

/// etcd 3.4's auth store: users, roles and their permissions in the `authUsers` and `authRoles`
/// buckets, the `authEnabled` and `authRevision` keys in `auth`, and the permission checks every
/// request goes through while auth is enabled.
///
/// Two kinds of callers, as the lessor has:
/// - **Apply side** (`AuthStore+Apply.swift`): the server's apply thread only, in log order, each
///   change written into the caller's `BatchTx` (the run's LMDB transaction). Memory follows as
///   soon as the call returns; the server stops on a storage failure during apply, so memory is
///   never left ahead of a committed disk.
/// - **Any thread**: reads and checks. They see a copy of the whole state under one `Mutex`,
///   held only to copy or swap it (copy-on-write dictionaries make the copy cheap): no storage
///   call, hashing or caller closure runs under it.
///
/// The auth revision counts changes to users and roles (etcd's commitRevision): a token records
/// the revision it was issued at, and a request whose revision is older than the store's is
/// refused, so a permission revoked meanwhile is never used.
public final class AuthStore: Sendable {
    public static let rootUser = "root"
    public static let rootRole = "root"
    static let enabledKey = Array("authEnabled".utf8)
    static let revisionKey = Array("authRevision".utf8)

    let backend: Backend
    /// `--bcrypt-cost`: the cost of the hashes this member makes.
    public let bcryptCost: Int
    public let tokens: any TokenProvider
    let state: Mutex<State>
    /// `state.enabled`, readable without the lock: with auth off every request asks only this.
    /// Written right after each publish of `state` (apply side), so it lags the state by no more
    /// than a check racing with the AuthEnable entry would anyway.
    let enabled: Atomic<Bool>

    struct State: Sendable {
        var enabled = false
        var revision: UInt64 = 0
        var users: [String: User] = [:]
        var roles: [String: Role] = [:]
        /// Each user's merged permissions, rebuilt when users or roles change (etcd's
        /// rangePermCache).
        var perms: [String: UnifiedPermissions] = [:]

        mutating func refreshPermissions() {
            perms = users.mapValues { UnifiedPermissions(user: $0, roles: roles) }
        }
    }

    /// Opens the store over `backend`, loading users, roles, the enabled flag and the revision.
    /// A backend without a revision gets revision 1, as etcd's NewAuthStore writes it.
    /// - Parameter bcryptCost: out of range means the default (10), as etcd does.
    public init(backend: Backend, tokens: any TokenProvider, bcryptCost: Int = Bcrypt.defaultCost) throws(AuthError) {
        self.backend = backend
        self.tokens = tokens
        self.bcryptCost = (Bcrypt.minCost...Bcrypt.maxCost).contains(bcryptCost) ? bcryptCost : Bcrypt.defaultCost
        var loaded = try Self.load(backend)
        if loaded.revision == 0 {
            loaded.revision = 1
            do {
                try backend.update { tx in try tx.put(.auth, Self.revisionKey, Self.revisionBytes(1)) }
            } catch {
                throw .storage("\(error)")
            }
        }
        state = Mutex(loaded)
        enabled = Atomic(loaded.enabled)
        if loaded.enabled { tokens.enable() }
    }

    /// Reloads everything after the backend's data was replaced (a raft snapshot installed), as
    /// etcd's Recover does. Apply side.
    public func reload() throws(AuthError) {
        let loaded = try Self.load(backend)
        state.withLock { $0 = loaded }
        enabled.store(loaded.enabled, ordering: .releasing)
        if loaded.enabled { tokens.enable() } else { tokens.disable() }
    }

    static func load(_ backend: Backend) throws(AuthError) -> State {
        var s = State()
        do {
            let tx = try backend.read()
            defer { tx.end() }
            s.enabled = try tx.get(.auth, enabledKey) == [1]
            if let rev = try tx.get(.auth, revisionKey), rev.count == 8 {
                s.revision = rev.reduce(0) { $0 << 8 | UInt64($1) }
            }
            try tx.forEach(.authUsers) { key, value in
                guard let user = AuthCodec.decodeUser(Array(value)) else {
                    throw AuthError.storage("auth: undecodable user record \(String(decoding: key, as: UTF8.self))")
                }
                s.users[user.name] = user
                return true
            }
            try tx.forEach(.authRoles) { key, value in
                guard let role = AuthCodec.decodeRole(Array(value)) else {
                    throw AuthError.storage("auth: undecodable role record \(String(decoding: key, as: UTF8.self))")
                }
                s.roles[role.name] = role
                return true
            }
        } catch let e as AuthError {
            throw e
        } catch {
            throw .storage("\(error)")
        }
        s.refreshPermissions()
        return s
    }

    static func revisionBytes(_ r: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: r >> (56 - 8 * UInt64($0))) }
    }

    // MARK: Reads (any thread)

    var snapshot: State { state.withLock { $0 } }

    public var isEnabled: Bool { enabled.load(ordering: .acquiring) }
    public var revision: UInt64 { state.withLock { $0.revision } }

    /// etcd's CheckPassword, done before an Authenticate is proposed: the revision the password
    /// was checked at. The hash is compared outside the lock (it takes a tenth of a second).
    public func checkPassword(name: String, password: String) throws(AuthError) -> UInt64 {
        let s = snapshot
        guard s.enabled else { throw .authNotEnabled }
        guard let user = s.users[name] else { throw .authFailed }
        if user.noPassword { throw .noPasswordUser }
        guard Bcrypt.verify(Array(password.utf8), hashed: user.password) else { throw .authFailed }
        return s.revision
    }

    /// The roles of user `name`, sorted.
    public func userGet(_ name: String) throws(AuthError) -> [String] {
        guard let user = snapshot.users[name] else { throw .userNotFound }
        return user.roles
    }

    /// Every user name in byte order (the bucket's order).
    public func userList() -> [String] { snapshot.users.keys.sorted(by: Self.byteOrder) }

    /// The permissions of role `name`, sorted by key.
    public func roleGet(_ name: String) throws(AuthError) -> [Permission] {
        guard let role = snapshot.roles[name] else { throw .roleNotFound }
        return role.permissions
    }

    public func roleList() -> [String] { snapshot.roles.keys.sorted(by: Self.byteOrder) }

    public func user(_ name: String) -> User? { snapshot.users[name] }

    public func hasRole(user: String, role: String) -> Bool {
        snapshot.users[user]?.roles.contains(role) ?? false
    }

    static func byteOrder(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }

    // MARK: Tokens and checks (any thread)

    /// The user a request's token names (etcd's AuthInfoFromCtx): nil without a token, `.invalidAuthToken`
    /// for one this member does not know. Simple tokens: wait until `tokens.requiredIndex(of:)` is
    /// applied before calling this.
    public func authInfo(token: String?) throws(AuthError) -> AuthInfo? {
        guard let token else { return nil }
        guard let info = tokens.info(token, revision: revision) else { throw .invalidAuthToken }
        return info
    }

    /// etcd's isOpPermitted, shared by the three key checks below.
    func checkOp(_ info: AuthInfo?, key: [UInt8], rangeEnd: [UInt8], write: Bool) throws(AuthError) {
        guard isEnabled else { return }
        let s = snapshot
        guard s.enabled else { return }
        guard let info, info.revision != 0 else { throw .userEmpty }
        if info.revision < s.revision { throw .authOldRevision }
        guard let user = s.users[info.username] else { throw .permissionDenied }
        if user.hasRootRole { return }
        guard let perms = s.perms[info.username], perms.permits(key: key, rangeEnd: rangeEnd, write: write) else {
            throw .permissionDenied
        }
    }

    public func checkRange(_ info: AuthInfo?, key: [UInt8], rangeEnd: [UInt8]) throws(AuthError) {
        try checkOp(info, key: key, rangeEnd: rangeEnd, write: false)
    }

    public func checkPut(_ info: AuthInfo?, key: [UInt8]) throws(AuthError) {
        try checkOp(info, key: key, rangeEnd: [], write: true)
    }

    public func checkDeleteRange(_ info: AuthInfo?, key: [UInt8], rangeEnd: [UInt8]) throws(AuthError) {
        try checkOp(info, key: key, rangeEnd: rangeEnd, write: true)
    }

    /// Calls that need the root role (etcd's IsAdminPermitted); no check while auth is disabled.
    public func checkAdmin(_ info: AuthInfo?) throws(AuthError) {
        guard isEnabled else { return }
        let s = snapshot
        guard s.enabled else { return }
        guard let info, !info.username.isEmpty else { throw .userEmpty }
        guard let user = s.users[info.username] else { throw .userNotFound }
        if !user.hasRootRole { throw .permissionDenied }
    }
}
