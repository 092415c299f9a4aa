/// What a permission allows (authpb.Permission.Type, same numbers).
public enum PermissionType: Int, Sendable, Equatable {
    case read = 0
    case write = 1
    case readWrite = 2

    public var name: String {
        switch self {
        case .read: "READ"
        case .write: "WRITE"
        case .readWrite: "READWRITE"
        }
    }
}

/// A role's permission on a key (empty `rangeEnd`), a range `[key, rangeEnd)`, or every key from
/// `key` on (`rangeEnd` = "\0"), as authpb.Permission.
public struct Permission: Sendable, Equatable {
    public var type: PermissionType
    public var key: [UInt8]
    public var rangeEnd: [UInt8]

    public init(type: PermissionType, key: [UInt8], rangeEnd: [UInt8] = []) {
        self.type = type
        self.key = key
        self.rangeEnd = rangeEnd
    }
}

/// authpb.User. `options` is nil only for users written without them (etcd always writes them
/// since 3.4, so its bytes carry an empty options message); the bytes are kept as etcd writes them.
public struct User: Sendable, Equatable {
    public var name: String
    /// The bcrypt hash; empty for a user added with `--no-password`.
    public var password: [UInt8]
    /// Sorted, as etcd keeps them (it finds the root role by binary search).
    public var roles: [String]
    public var options: UserOptions?

    public init(name: String, password: [UInt8] = [], roles: [String] = [], options: UserOptions? = UserOptions()) {
        self.name = name
        self.password = password
        self.roles = roles
        self.options = options
    }

    public var noPassword: Bool { options?.noPassword ?? false }
    public var hasRootRole: Bool { roles.contains(AuthStore.rootRole) }
}

/// authpb.UserAddOptions.
public struct UserOptions: Sendable, Equatable {
    public var noPassword: Bool
    public init(noPassword: Bool = false) { self.noPassword = noPassword }
}

/// authpb.Role: permissions sorted by key, as etcd keeps them.
public struct Role: Sendable, Equatable {
    public var name: String
    public var permissions: [Permission]

    public init(name: String, permissions: [Permission] = []) {
        self.name = name
        self.permissions = permissions
    }
}

/// Who a request acts for: the user named by its token and the auth revision the token was
/// issued at (etcd's AuthInfo). A revision of 0 means "no user".
public struct AuthInfo: Sendable, Equatable {
    public var username: String
    public var revision: UInt64

    public init(username: String, revision: UInt64) {
        self.username = username
        self.revision = revision
    }
}

/// The auth store's errors, one per etcd `auth.Err*` that reaches clients. The server maps each
/// to etcd's gRPC status and message.
public enum AuthError: Error, Sendable, Equatable {
    case rootUserNotExist
    case rootRoleNotExist
    case userAlreadyExist
    case userEmpty
    case userNotFound
    case roleAlreadyExist
    case roleNotFound
    case roleEmpty
    case authFailed
    /// Authenticate with a password for a `--no-password` user (etcd answers it as an unknown
    /// error with this text, not as authFailed).
    case noPasswordUser
    case permissionDenied
    case roleNotGranted
    case permissionNotGranted
    case authNotEnabled
    case authOldRevision
    case invalidAuthToken
    case invalidAuthManagement
    case invalidAuthOptions(String)
    /// The backend failed or holds a record that does not decode.
    case storage(String)
}
