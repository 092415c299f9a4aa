import Auth
import EtcdProto

/// The Auth service's calls (etcd's `v3_server.go`) and the resolution of the credentials bound to
/// a request (`RequestCredentials.current`): every Auth call goes through the log, even the reads,
/// as in etcd 3.4, so the checks made while applying see the user's rights in log order.
extension ServerNode {
    public var authStore: AuthStore { auth }

    /// The user the current request acts for: nil with no credentials; `.invalidAuthToken` for a
    /// token this member does not know. A simple token names the entry that made it: a member that
    /// has not applied it yet waits for it (up to the request timeout), as etcd does.
    public func currentAuthInfo() async throws(ServerError) -> AuthInfo? {
        switch RequestCredentials.current {
        case nil: return nil
        case .root: return AuthInfo(username: AuthStore.rootUser, revision: auth.revision)
        case .certificate(let name):
            return options.clientCertAuth ? AuthInfo(username: name, revision: auth.revision) : nil
        case .token(let token):
            if let index = auth.tokens.requiredIndex(of: token), index > applier.appliedIndex {
                let deadline = ContinuousClock.now + options.requestTimeout
                while applier.appliedIndex < index {
                    guard ContinuousClock.now < deadline, !Task.isCancelled else { throw .invalidAuthToken }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            do { return try auth.authInfo(token: token) } catch { throw ServerError(auth: error) }
        }
    }

    /// The header `propose` attaches: who asks, at which auth revision (etcd's RequestHeader).
    func authHeader(id: UInt64) async throws(ServerError) -> Etcdserverpb_RequestHeader? {
        guard let info = try await currentAuthInfo() else { return nil }
        var h = Etcdserverpb_RequestHeader()
        h.id = id
        h.username = info.username
        h.authRevision = info.revision
        return h
    }

    /// etcd's doSerialize: checks a local read before it runs; `stale` then refuses the answer if
    /// the auth store changed while it was read.
    func authorizeRead(_ check: (AuthInfo?) throws(AuthError) -> Void) async throws(ServerError) -> AuthInfo? {
        let info = try await currentAuthInfo()
        do { try check(info) } catch { throw ServerError(auth: error) }
        return info
    }

    func checkStale(_ info: AuthInfo?) throws(ServerError) {
        if let info, info.revision != 0, info.revision != auth.revision { throw .authOldRevision }
    }

    /// Calls that need the root role: member changes, defragment, snapshot, hash, move-leader.
    public func checkAdmin() async throws(ServerError) {
        guard auth.isEnabled else { return }
        let info = try await currentAuthInfo()
        do { try auth.checkAdmin(info) } catch { throw ServerError(auth: error) }
    }

    /// A watch on `[key, rangeEnd)` may be created (etcd's watch isWatchPermitted).
    public func checkWatch(key: [UInt8], rangeEnd: [UInt8]) async throws(ServerError) {
        guard auth.isEnabled else { return }
        let info = try await currentAuthInfo()
        do { try auth.checkRange(info, key: key, rangeEnd: rangeEnd) } catch { throw ServerError(auth: error) }
    }

    /// etcd's Authenticate: the password is checked here, before proposing (the log never carries
    /// it); the entry carries a fresh random token prefix. If the auth store changed between the
    /// check and the apply, the check is redone.
    public func authenticate(_ r: Etcdserverpb_AuthenticateRequest) async throws(ServerError) -> Etcdserverpb_AuthenticateResponse {
        try await linearizableBarrier()
        while true {
            let checked: UInt64
            do { checked = try auth.checkPassword(name: r.name, password: r.password) } catch {
                if error != .authNotEnabled { logger.warning("invalid authentication was requested for user \(r.name): \(error)") }
                throw ServerError(auth: error)
            }
            var internalRequest = Etcdserverpb_InternalAuthenticateRequest()
            internalRequest.name = r.name
            internalRequest.simpleToken = auth.tokens.tokenPrefix()
            let request = internalRequest
            var response: Etcdserverpb_AuthenticateResponse = try await proposeAuth { $0.authenticate = request }
            if checked == auth.revision {
                response.header = header()
                return response
            }
        }
    }

    public func authEnable(_ r: Etcdserverpb_AuthEnableRequest) async throws(ServerError) -> Etcdserverpb_AuthEnableResponse {
        try await proposeAuth { $0.authEnable = r }
    }
    public func authDisable(_ r: Etcdserverpb_AuthDisableRequest) async throws(ServerError) -> Etcdserverpb_AuthDisableResponse {
        try await proposeAuth { $0.authDisable = r }
    }
    public func userAdd(_ r: Etcdserverpb_AuthUserAddRequest) async throws(ServerError) -> Etcdserverpb_AuthUserAddResponse {
        try await proposeAuth { $0.authUserAdd = r }
    }
    public func userDelete(_ r: Etcdserverpb_AuthUserDeleteRequest) async throws(ServerError) -> Etcdserverpb_AuthUserDeleteResponse {
        try await proposeAuth { $0.authUserDelete = r }
    }
    public func userChangePassword(_ r: Etcdserverpb_AuthUserChangePasswordRequest) async throws(ServerError)
        -> Etcdserverpb_AuthUserChangePasswordResponse { try await proposeAuth { $0.authUserChangePassword = r } }
    public func userGrantRole(_ r: Etcdserverpb_AuthUserGrantRoleRequest) async throws(ServerError)
        -> Etcdserverpb_AuthUserGrantRoleResponse { try await proposeAuth { $0.authUserGrantRole = r } }
    public func userRevokeRole(_ r: Etcdserverpb_AuthUserRevokeRoleRequest) async throws(ServerError)
        -> Etcdserverpb_AuthUserRevokeRoleResponse { try await proposeAuth { $0.authUserRevokeRole = r } }
    public func userGet(_ r: Etcdserverpb_AuthUserGetRequest) async throws(ServerError) -> Etcdserverpb_AuthUserGetResponse {
        try await proposeAuth { $0.authUserGet = r }
    }
    public func userList(_ r: Etcdserverpb_AuthUserListRequest) async throws(ServerError) -> Etcdserverpb_AuthUserListResponse {
        try await proposeAuth { $0.authUserList = r }
    }
    public func roleAdd(_ r: Etcdserverpb_AuthRoleAddRequest) async throws(ServerError) -> Etcdserverpb_AuthRoleAddResponse {
        try await proposeAuth { $0.authRoleAdd = r }
    }
    public func roleDelete(_ r: Etcdserverpb_AuthRoleDeleteRequest) async throws(ServerError) -> Etcdserverpb_AuthRoleDeleteResponse {
        try await proposeAuth { $0.authRoleDelete = r }
    }
    public func roleGet(_ r: Etcdserverpb_AuthRoleGetRequest) async throws(ServerError) -> Etcdserverpb_AuthRoleGetResponse {
        try await proposeAuth { $0.authRoleGet = r }
    }
    public func roleList(_ r: Etcdserverpb_AuthRoleListRequest) async throws(ServerError) -> Etcdserverpb_AuthRoleListResponse {
        try await proposeAuth { $0.authRoleList = r }
    }
    public func roleGrantPermission(_ r: Etcdserverpb_AuthRoleGrantPermissionRequest) async throws(ServerError)
        -> Etcdserverpb_AuthRoleGrantPermissionResponse { try await proposeAuth { $0.authRoleGrantPermission = r } }
    public func roleRevokePermission(_ r: Etcdserverpb_AuthRoleRevokePermissionRequest) async throws(ServerError)
        -> Etcdserverpb_AuthRoleRevokePermissionResponse { try await proposeAuth { $0.authRoleRevokePermission = r } }

    /// Proposes an Auth entry and returns its response with this member's header.
    private func proposeAuth<R: ProtoMessage>(_ build: (inout Etcdserverpb_InternalRaftRequest) -> Void)
        async throws(ServerError) -> R
    {
        guard case .auth(let message) = try await propose(build), var response = message as? R else {
            throw .internal("unexpected result")
        }
        setHeader(&response, header())
        return response
    }
}

/// Every Auth response has `header` as field 1; this sets it whatever the type.
private func setHeader<R: ProtoMessage>(_ r: inout R, _ h: Etcdserverpb_ResponseHeader) {
    switch r {
    case var x as Etcdserverpb_AuthEnableResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthDisableResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthenticateResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthUserAddResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthUserDeleteResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthUserChangePasswordResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthUserGrantRoleResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthUserRevokeRoleResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthUserGetResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthUserListResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthRoleAddResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthRoleDeleteResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthRoleGetResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthRoleListResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthRoleGrantPermissionResponse: x.header = h; r = x as! R
    case var x as Etcdserverpb_AuthRoleRevokePermissionResponse: x.header = h; r = x as! R
    default: break
    }
}
