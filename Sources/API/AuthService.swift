import EtcdProto
import GRPC
import Server

/// `etcdserverpb.Auth`: every call goes to the server, which proposes it (Authenticate checks the
/// password first); who may do what is decided while applying, as in etcd 3.4.
struct AuthService {
    let node: ServerNode

    func register(on router: GRPCRouter) {
        let node = self.node
        router.unary("/etcdserverpb.Auth/AuthEnable") { (r: Etcdserverpb_AuthEnableRequest, _) throws(ServerError) in
            try await node.authEnable(r)
        }
        router.unary("/etcdserverpb.Auth/AuthDisable") { (r: Etcdserverpb_AuthDisableRequest, _) throws(ServerError) in
            try await node.authDisable(r)
        }
        router.unary("/etcdserverpb.Auth/Authenticate") { (r: Etcdserverpb_AuthenticateRequest, _) throws(ServerError) in
            try await node.authenticate(r)
        }
        router.unary("/etcdserverpb.Auth/UserAdd") { (r: Etcdserverpb_AuthUserAddRequest, _) throws(ServerError) in
            try await node.userAdd(r)
        }
        router.unary("/etcdserverpb.Auth/UserGet") { (r: Etcdserverpb_AuthUserGetRequest, _) throws(ServerError) in
            try await node.userGet(r)
        }
        router.unary("/etcdserverpb.Auth/UserList") { (r: Etcdserverpb_AuthUserListRequest, _) throws(ServerError) in
            try await node.userList(r)
        }
        router.unary("/etcdserverpb.Auth/UserDelete") { (r: Etcdserverpb_AuthUserDeleteRequest, _) throws(ServerError) in
            try await node.userDelete(r)
        }
        router.unary("/etcdserverpb.Auth/UserChangePassword") {
            (r: Etcdserverpb_AuthUserChangePasswordRequest, _) throws(ServerError) in try await node.userChangePassword(r)
        }
        router.unary("/etcdserverpb.Auth/UserGrantRole") { (r: Etcdserverpb_AuthUserGrantRoleRequest, _) throws(ServerError) in
            try await node.userGrantRole(r)
        }
        router.unary("/etcdserverpb.Auth/UserRevokeRole") { (r: Etcdserverpb_AuthUserRevokeRoleRequest, _) throws(ServerError) in
            try await node.userRevokeRole(r)
        }
        router.unary("/etcdserverpb.Auth/RoleAdd") { (r: Etcdserverpb_AuthRoleAddRequest, _) throws(ServerError) in
            try await node.roleAdd(r)
        }
        router.unary("/etcdserverpb.Auth/RoleGet") { (r: Etcdserverpb_AuthRoleGetRequest, _) throws(ServerError) in
            try await node.roleGet(r)
        }
        router.unary("/etcdserverpb.Auth/RoleList") { (r: Etcdserverpb_AuthRoleListRequest, _) throws(ServerError) in
            try await node.roleList(r)
        }
        router.unary("/etcdserverpb.Auth/RoleDelete") { (r: Etcdserverpb_AuthRoleDeleteRequest, _) throws(ServerError) in
            try await node.roleDelete(r)
        }
        router.unary("/etcdserverpb.Auth/RoleGrantPermission") {
            (r: Etcdserverpb_AuthRoleGrantPermissionRequest, _) throws(ServerError) in try await node.roleGrantPermission(r)
        }
        router.unary("/etcdserverpb.Auth/RoleRevokePermission") {
            (r: Etcdserverpb_AuthRoleRevokePermissionRequest, _) throws(ServerError) in try await node.roleRevokePermission(r)
        }
    }
}

extension RequestCredentials {
    /// The token a client sent (gRPC clients use `token`, the JSON gateway `authorization`); a
    /// token wins over the client certificate, as in etcd's AuthInfoFromCtx.
    static func from(_ context: ServerContext) -> RequestCredentials? {
        if let token = context.requestMetadata["token"] ?? context.requestMetadata["authorization"] { return .token(token) }
        if let name = context.peerCertificateCommonName { return .certificate(commonName: name) }
        return nil
    }
}

extension ServerError {
    var isAuthRefusal: Bool {
        switch self {
        case .userEmpty, .invalidAuthToken, .permissionDenied, .userNotFound, .authOldRevision: true
        default: false
        }
    }

    /// etcd's Maintenance server hands back the auth package's own errors, unconverted: code
    /// Unknown and "auth: ..." text.
    var unconvertedAuth: ServerError {
        let message = grpcStatus.message
        guard isAuthRefusal, message.hasPrefix("etcdserver: ") else { return self }
        return .internal("auth: " + message.dropFirst("etcdserver: ".count))
    }

    /// etcd's Lock and Election servers run on an in-process client and return its errors, which
    /// grpc-go sends as code Unknown with the same text.
    var viaClient: ServerError { isAuthRefusal ? .internal(grpcStatus.message) : self }

    /// A refused watch's cancel reason: the gRPC error's text as grpc-go prints it (etcd's
    /// `rpctypes.ErrGRPC*.Error()`).
    var watchCancelReason: String {
        let status = grpcStatus
        let code: String
        switch self {
        case .invalidAuthToken: code = "Unauthenticated"
        case .authOldRevision, .userEmpty: code = "InvalidArgument"
        default:
            return "rpc error: code = PermissionDenied desc = etcdserver: permission denied"
        }
        return "rpc error: code = \(code) desc = \(status.message)"
    }
}
