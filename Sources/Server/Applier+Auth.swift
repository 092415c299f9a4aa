import Auth
import EtcdProto
import Storage

/// Auth entries and the checks etcd's authApplierV3 makes while applying (apply thread): the
/// request's header names the user and the auth revision its token was issued at.
extension Applier {
    /// Why `r` may not be applied for the user in its header, or nil when it may.
    func authDenial(_ r: Etcdserverpb_InternalRaftRequest) -> ServerError? {
        guard auth.isEnabled else { return nil }
        let info = r.header.map { AuthInfo(username: $0.username, revision: $0.authRevision) }
        do throws(AuthError) {
            if Self.needsAdmin(r) { try auth.checkAdmin(info) }
            if let p = r.put {
                try auth.checkPut(info, key: p.key)
                // A lease carrying keys the user may not write cannot be given more keys by them.
                try checkLeaseKeys(p.lease, info)
                if p.prevKv { try auth.checkRange(info, key: p.key, rangeEnd: []) }
            }
            if let d = r.deleteRange {
                try auth.checkDeleteRange(info, key: d.key, rangeEnd: d.rangeEnd)
                if d.prevKv { try auth.checkRange(info, key: d.key, rangeEnd: d.rangeEnd) }
            }
            if let t = r.txn { try checkTxnAuth(auth, info, t) }
            if let l = r.leaseRevoke { try checkLeaseKeys(l.id, info) }
            // A user may read their own record, and the roles they hold, without root.
            if let g = r.authUserGet, (try? auth.checkAdmin(info)) == nil, g.name != info?.username {
                try auth.checkAdmin(info)
            }
            if let g = r.authRoleGet, (try? auth.checkAdmin(info)) == nil,
               !auth.hasRole(user: info?.username ?? "", role: g.role) {
                try auth.checkAdmin(info)
            }
        } catch {
            return ServerError(auth: error)
        }
        return nil
    }

    private func checkLeaseKeys(_ id: Int64, _ info: AuthInfo?) throws(AuthError) {
        guard id != 0, let lease = lessor.timeToLive(id: id, keys: true) else { return }
        for key in lease.keys { try auth.checkPut(info, key: key) }
    }

    static func needsAdmin(_ r: Etcdserverpb_InternalRaftRequest) -> Bool {
        r.authEnable != nil || r.authDisable != nil || r.authUserAdd != nil || r.authUserDelete != nil
            || r.authUserChangePassword != nil || r.authUserGrantRole != nil || r.authUserRevokeRole != nil
            || r.authRoleAdd != nil || r.authRoleGrantPermission != nil || r.authRoleRevokePermission != nil
            || r.authRoleDelete != nil || r.authUserList != nil || r.authRoleList != nil
    }

    /// Applies an Auth entry; nil when `r` is not one. `index` names simple tokens.
    func applyAuth(_ r: Etcdserverpb_InternalRaftRequest, index: UInt64, in session: ApplySession) throws(ServerError)
        -> ApplyResult?
    {
        if r.authEnable != nil {
            try write(session) { tx throws(AuthError) in try auth.enable(in: tx) }
            logger.notice("enabled authentication")
            return .auth(Etcdserverpb_AuthEnableResponse())
        }
        if r.authDisable != nil {
            try write(session) { tx throws(AuthError) in try auth.disable(in: tx) }
            logger.notice("disabled authentication")
            return .auth(Etcdserverpb_AuthDisableResponse())
        }
        if let a = r.authenticate {
            var response = Etcdserverpb_AuthenticateResponse()
            do { response.token = try auth.authenticate(name: a.name, tokenPrefix: a.simpleToken, index: index) } catch {
                throw ServerError(auth: error)
            }
            return .auth(response)
        }
        if let u = r.authUserAdd {
            let options = u.options.map { UserOptions(noPassword: $0.noPassword) }
            try write(session) { tx throws(AuthError) in
                try auth.userAdd(name: u.name, password: u.password, options: options, in: tx)
            }
            return .auth(Etcdserverpb_AuthUserAddResponse())
        }
        if let u = r.authUserDelete {
            try write(session) { tx throws(AuthError) in try auth.userDelete(name: u.name, in: tx) }
            return .auth(Etcdserverpb_AuthUserDeleteResponse())
        }
        if let u = r.authUserChangePassword {
            try write(session) { tx throws(AuthError) in try auth.userChangePassword(name: u.name, password: u.password, in: tx) }
            return .auth(Etcdserverpb_AuthUserChangePasswordResponse())
        }
        if let u = r.authUserGrantRole {
            try write(session) { tx throws(AuthError) in try auth.userGrantRole(user: u.user, role: u.role, in: tx) }
            return .auth(Etcdserverpb_AuthUserGrantRoleResponse())
        }
        if let u = r.authUserRevokeRole {
            try write(session) { tx throws(AuthError) in try auth.userRevokeRole(name: u.name, role: u.role, in: tx) }
            return .auth(Etcdserverpb_AuthUserRevokeRoleResponse())
        }
        if let u = r.authUserGet {
            var response = Etcdserverpb_AuthUserGetResponse()
            do { response.roles = try auth.userGet(u.name) } catch { throw ServerError(auth: error) }
            return .auth(response)
        }
        if r.authUserList != nil {
            var response = Etcdserverpb_AuthUserListResponse()
            response.users = auth.userList()
            return .auth(response)
        }
        if let a = r.authRoleAdd {
            try write(session) { tx throws(AuthError) in try auth.roleAdd(name: a.name, in: tx) }
            return .auth(Etcdserverpb_AuthRoleAddResponse())
        }
        if let a = r.authRoleDelete {
            try write(session) { tx throws(AuthError) in try auth.roleDelete(name: a.role, in: tx) }
            return .auth(Etcdserverpb_AuthRoleDeleteResponse())
        }
        if let a = r.authRoleGet {
            var response = Etcdserverpb_AuthRoleGetResponse()
            do { response.perm = try auth.roleGet(a.role).map(Self.proto) } catch { throw ServerError(auth: error) }
            return .auth(response)
        }
        if r.authRoleList != nil {
            var response = Etcdserverpb_AuthRoleListResponse()
            response.roles = auth.roleList()
            return .auth(response)
        }
        if let g = r.authRoleGrantPermission {
            let p = g.perm ?? Authpb_Permission()
            guard let type = PermissionType(rawValue: Int(p.permType.rawValue)) else { throw .internal("auth: invalid permission type") }
            let perm = Permission(type: type, key: p.key, rangeEnd: p.rangeEnd)
            try write(session) { tx throws(AuthError) in try auth.roleGrantPermission(name: g.name, perm: perm, in: tx) }
            return .auth(Etcdserverpb_AuthRoleGrantPermissionResponse())
        }
        if let v = r.authRoleRevokePermission {
            try write(session) { tx throws(AuthError) in
                try auth.roleRevokePermission(name: v.role, key: v.key, rangeEnd: v.rangeEnd, in: tx)
            }
            return .auth(Etcdserverpb_AuthRoleRevokePermissionResponse())
        }
        return nil
    }

    static func proto(_ p: Permission) -> Authpb_Permission {
        var out = Authpb_Permission()
        out.permType = Authpb_Permission.TypeEnum(rawValue: Int32(p.type.rawValue))
        out.key = p.key
        out.rangeEnd = p.rangeEnd
        return out
    }

    /// Runs an auth change in the run's LMDB transaction; a refused change writes nothing.
    private func write(_ session: ApplySession, _ body: (BatchTx) throws(AuthError) -> Void) throws(ServerError) {
        var refused: AuthError?
        try session.update { tx in
            do throws(AuthError) { try body(tx) } catch { refused = error }
        }
        if let refused { throw ServerError(auth: refused) }
    }
}
