import Storage

/// Apply side: the server's apply thread only, in log order. Each call validates against the
/// current state, writes its records (and the bumped revision) into `tx`, then publishes the new
/// state. A call that throws an `AuthError` other than `.storage` wrote nothing.
extension AuthStore {
    /// etcd's AuthEnable: needs user root holding role root. Enabling twice is not an error. The
    /// revision is not bumped (etcd does not).
    public func enable(in tx: BatchTx) throws(AuthError) {
        var s = snapshot
        if s.enabled { return }
        guard let root = s.users[Self.rootUser] else { throw .rootUserNotExist }
        guard root.hasRootRole else { throw .rootRoleNotExist }
        try write { try tx.put(.auth, Self.enabledKey, [1]) }
        s.enabled = true
        publish(s)
        tokens.enable()
    }

    /// etcd's AuthDisable: bumps the revision; disabling a disabled store does nothing.
    public func disable(in tx: BatchTx) throws(AuthError) {
        var s = snapshot
        guard s.enabled else { return }
        try write { try tx.put(.auth, Self.enabledKey, [0]) }
        try bumpRevision(&s, tx)
        s.enabled = false
        publish(s)
        tokens.disable()
    }

    /// Applies an Authenticate whose password the proposer checked: a token for `name`.
    public func authenticate(name: String, tokenPrefix: String, index: UInt64) throws(AuthError) -> String {
        let s = snapshot
        guard s.enabled else { throw .authNotEnabled }
        guard let user = s.users[name], !user.noPassword else { throw .authFailed }
        return try tokens.assign(username: name, revision: s.revision, prefix: tokenPrefix, index: index)
    }

    /// etcd 3.4's UserAdd hashes the password while applying (each member its own salt).
    public func userAdd(name: String, password: String, options: UserOptions?, in tx: BatchTx) throws(AuthError) {
        guard !name.isEmpty else { throw .userEmpty }
        var s = snapshot
        guard s.users[name] == nil else { throw .userAlreadyExist }
        let options = options ?? UserOptions()
        let hashed = options.noPassword ? [] : Bcrypt.hash(Array(password.utf8), cost: bcryptCost)
        let user = User(name: name, password: hashed, roles: [], options: options)
        try putUser(user, tx)
        s.users[name] = user
        try bumpRevision(&s, tx)
        s.refreshPermissions()
        publish(s)
    }

    public func userDelete(name: String, in tx: BatchTx) throws(AuthError) {
        var s = snapshot
        if s.enabled && name == Self.rootUser { throw .invalidAuthManagement }
        guard s.users[name] != nil else { throw .userNotFound }
        try write { try tx.delete(.authUsers, Array(name.utf8)) }
        s.users[name] = nil
        try bumpRevision(&s, tx)
        s.refreshPermissions()
        publish(s)
        tokens.invalidateUser(name)
    }

    public func userChangePassword(name: String, password: String, in tx: BatchTx) throws(AuthError) {
        var s = snapshot
        guard var user = s.users[name] else { throw .userNotFound }
        user.password = Bcrypt.hash(Array(password.utf8), cost: bcryptCost)
        try putUser(user, tx)
        s.users[name] = user
        try bumpRevision(&s, tx)
        s.refreshPermissions()
        publish(s)
        tokens.invalidateUser(name)
    }

    /// Granting a role the user has is not an error and changes nothing. Role root need not exist.
    public func userGrantRole(user name: String, role: String, in tx: BatchTx) throws(AuthError) {
        var s = snapshot
        guard var user = s.users[name] else { throw .userNotFound }
        if role != Self.rootRole && s.roles[role] == nil { throw .roleNotFound }
        if user.roles.contains(role) { return }
        user.roles.append(role)
        user.roles.sort(by: Self.byteOrder)
        try putUser(user, tx)
        s.users[name] = user
        try bumpRevision(&s, tx)
        s.refreshPermissions()
        publish(s)
    }

    public func userRevokeRole(name: String, role: String, in tx: BatchTx) throws(AuthError) {
        var s = snapshot
        if s.enabled && name == Self.rootUser && role == Self.rootRole { throw .invalidAuthManagement }
        guard var user = s.users[name] else { throw .userNotFound }
        let before = user.roles.count
        user.roles.removeAll { $0 == role }
        if user.roles.count == before { throw .roleNotGranted }
        try putUser(user, tx)
        s.users[name] = user
        try bumpRevision(&s, tx)
        s.refreshPermissions()
        publish(s)
    }

    public func roleAdd(name: String, in tx: BatchTx) throws(AuthError) {
        guard !name.isEmpty else { throw .roleEmpty }
        var s = snapshot
        guard s.roles[name] == nil else { throw .roleAlreadyExist }
        let role = Role(name: name)
        try putRole(role, tx)
        s.roles[name] = role
        try bumpRevision(&s, tx)
        s.refreshPermissions()
        publish(s)
    }

    /// Deleting a role also takes it from every user holding it.
    public func roleDelete(name: String, in tx: BatchTx) throws(AuthError) {
        var s = snapshot
        if s.enabled && name == Self.rootRole { throw .invalidAuthManagement }
        guard s.roles[name] != nil else { throw .roleNotFound }
        try write { try tx.delete(.authRoles, Array(name.utf8)) }
        s.roles[name] = nil
        for (userName, var user) in s.users where user.roles.contains(name) {
            user.roles.removeAll { $0 == name }
            try putUser(user, tx)
            s.users[userName] = user
        }
        try bumpRevision(&s, tx)
        s.refreshPermissions()
        publish(s)
    }

    /// Grants `perm`, or changes the type of the role's permission on the same key and range end.
    public func roleGrantPermission(name: String, perm: Permission, in tx: BatchTx) throws(AuthError) {
        var s = snapshot
        guard var role = s.roles[name] else { throw .roleNotFound }
        // As etcd: only the first permission on the key is a candidate for an update.
        let i = role.permissions.firstIndex { !$0.key.lexicographicallyPrecedes(perm.key) }
        if let i, role.permissions[i].key == perm.key, role.permissions[i].rangeEnd == perm.rangeEnd {
            role.permissions[i].type = perm.type
        } else {
            role.permissions.append(perm)
            // Stable, so permissions on one key keep the order they were granted in.
            let indexed = role.permissions.enumerated().sorted { a, b in
                if a.element.key != b.element.key { return a.element.key.lexicographicallyPrecedes(b.element.key) }
                return a.offset < b.offset
            }
            role.permissions = indexed.map(\.element)
        }
        try putRole(role, tx)
        s.roles[name] = role
        try bumpRevision(&s, tx)
        s.refreshPermissions()
        publish(s)
    }

    public func roleRevokePermission(name: String, key: [UInt8], rangeEnd: [UInt8], in tx: BatchTx) throws(AuthError) {
        var s = snapshot
        guard var role = s.roles[name] else { throw .roleNotFound }
        let before = role.permissions.count
        role.permissions.removeAll { $0.key == key && $0.rangeEnd == rangeEnd }
        if role.permissions.count == before { throw .permissionNotGranted }
        try putRole(role, tx)
        s.roles[name] = role
        try bumpRevision(&s, tx)
        s.refreshPermissions()
        publish(s)
    }

    // MARK: Helpers

    private func publish(_ s: State) {
        state.withLock { $0 = s }
        enabled.store(s.enabled, ordering: .releasing)
    }

    private func bumpRevision(_ s: inout State, _ tx: BatchTx) throws(AuthError) {
        let next = s.revision + 1
        try write { try tx.put(.auth, Self.revisionKey, Self.revisionBytes(next)) }
        s.revision = next
    }

    private func putUser(_ u: User, _ tx: BatchTx) throws(AuthError) {
        try write { try tx.put(.authUsers, Array(u.name.utf8), AuthCodec.encode(u)) }
    }

    private func putRole(_ r: Role, _ tx: BatchTx) throws(AuthError) {
        try write { try tx.put(.authRoles, Array(r.name.utf8), AuthCodec.encode(r)) }
    }

    private func write(_ body: () throws -> Void) throws(AuthError) {
        do { try body() } catch { throw .storage("\(error)") }
    }
}
