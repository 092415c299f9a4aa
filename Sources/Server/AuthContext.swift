import Auth
import EtcdProto

/// The credentials of the request a task serves. The API layer binds the client's `token`
/// metadata around each handler; the server resolves it only where etcd 3.4 does (proposals,
/// serializable reads, watch creation, admin-only calls), so a call that never looks at it (Status,
/// say) works with any token, as in etcd.
public enum RequestCredentials: Sendable {
    case token(String)
    /// No token, but a verified client certificate with this common name (used only under
    /// `--client-cert-auth`, as etcd's AuthInfoFromTLS).
    case certificate(commonName: String)
    /// The member itself acting with root rights (etcd's WithRoot), for lease expiry.
    case root

    @TaskLocal public static var current: RequestCredentials?
}

extension ServerError {
    /// etcd's auth errors as the client sees them (`v3rpc/util.go`).
    init(auth error: AuthError) {
        switch error {
        case .rootUserNotExist: self = .rootUserNotExist
        case .rootRoleNotExist: self = .rootRoleNotExist
        case .userAlreadyExist: self = .userAlreadyExist
        case .userEmpty: self = .userEmpty
        case .userNotFound: self = .userNotFound
        case .roleAlreadyExist: self = .roleAlreadyExist
        case .roleNotFound: self = .roleNotFound
        case .roleEmpty: self = .roleEmpty
        case .authFailed: self = .authFailed
        // etcd has no status for this one: clients get its text with code Unknown.
        case .noPasswordUser: self = .internal("auth: authentication failed, password was given for no password user")
        case .permissionDenied: self = .permissionDenied
        case .roleNotGranted: self = .roleNotGranted
        case .permissionNotGranted: self = .permissionNotGranted
        case .authNotEnabled: self = .authNotEnabled
        case .authOldRevision: self = .authOldRevision
        case .invalidAuthToken: self = .invalidAuthToken
        case .invalidAuthManagement: self = .invalidAuthManagement
        case .invalidAuthOptions(let what): self = .internal(what)
        case .storage(let what): self = .internal(what)
        }
    }
}

/// etcd's checkTxnAuth: every compare is a read; every op is checked as its own request. Nested
/// txns are checked too (etcd 3.4 skips them, which lets a nested op escape the check).
func checkTxnAuth(_ auth: AuthStore, _ info: AuthInfo?, _ t: Etcdserverpb_TxnRequest) throws(AuthError) {
    for c in t.compare { try auth.checkRange(info, key: c.key, rangeEnd: c.rangeEnd) }
    for op in t.success + t.failure {
        switch op.request {
        case .requestRange(let r): try auth.checkRange(info, key: r.key, rangeEnd: r.rangeEnd)
        case .requestPut(let p): try auth.checkPut(info, key: p.key)
        case .requestDeleteRange(let d):
            if d.prevKv { try auth.checkRange(info, key: d.key, rangeEnd: d.rangeEnd) }
            try auth.checkDeleteRange(info, key: d.key, rangeEnd: d.rangeEnd)
        case .requestTxn(let nested): try checkTxnAuth(auth, info, nested)
        case nil: break
        }
    }
}
