import GRPC
import Server

/// The one table from server errors to etcd's gRPC status codes and messages
/// (etcd 3.4 `etcdserver/api/v3rpc/rpctypes/error.go`). Clients match on these strings.
extension ServerError {
    var grpcStatus: GRPCStatus {
        switch self {
        case .emptyKey: GRPCStatus(code: .invalidArgument, message: "etcdserver: key is not provided")
        case .keyNotFound: GRPCStatus(code: .invalidArgument, message: "etcdserver: key not found")
        case .valueProvided: GRPCStatus(code: .invalidArgument, message: "etcdserver: value is provided")
        case .leaseProvided: GRPCStatus(code: .invalidArgument, message: "etcdserver: lease is provided")
        case .tooManyOps: GRPCStatus(code: .invalidArgument, message: "etcdserver: too many operations in txn request")
        case .duplicateKey: GRPCStatus(code: .invalidArgument, message: "etcdserver: duplicate key given in txn request")
        case .requestTooLarge: GRPCStatus(code: .invalidArgument, message: "etcdserver: request is too large")
        case .compacted:
            GRPCStatus(code: .outOfRange, message: "etcdserver: mvcc: required revision has been compacted")
        case .futureRevision:
            GRPCStatus(code: .outOfRange, message: "etcdserver: mvcc: required revision is a future revision")
        case .noSpace: GRPCStatus(code: .resourceExhausted, message: "etcdserver: mvcc: database space exceeded")
        case .leaseNotFound: GRPCStatus(code: .notFound, message: "etcdserver: requested lease not found")
        case .leaseExists: GRPCStatus(code: .failedPrecondition, message: "etcdserver: lease already exists")
        case .leaseTTLTooLarge: GRPCStatus(code: .outOfRange, message: "etcdserver: too large lease TTL")
        case .memberNotFound: GRPCStatus(code: .notFound, message: "etcdserver: member not found")
        case .noLeader: GRPCStatus(code: .unavailable, message: "etcdserver: no leader")
        case .notLeader: GRPCStatus(code: .failedPrecondition, message: "etcdserver: not leader")
        case .stopped: GRPCStatus(code: .unavailable, message: "etcdserver: server stopped")
        case .timeout: GRPCStatus(code: .unavailable, message: "etcdserver: request timed out")
        case .timeoutDueToLeaderFail:
            GRPCStatus(code: .unavailable, message: "etcdserver: request timed out, possibly due to previous leader failure")
        case .timeoutDueToConnectionLost:
            GRPCStatus(code: .unavailable, message: "etcdserver: request timed out, possibly due to connection lost")
        case .leaderChanged: GRPCStatus(code: .unavailable, message: "etcdserver: leader changed")
        case .tooManyRequests: GRPCStatus(code: .resourceExhausted, message: "etcdserver: too many requests")
        case .corrupt: GRPCStatus(code: .dataLoss, message: "etcdserver: corrupt cluster")
        case .unhealthy: GRPCStatus(code: .unavailable, message: "etcdserver: unhealthy cluster")
        case .memberExists: GRPCStatus(code: .failedPrecondition, message: "etcdserver: member ID already exist")
        case .peerURLExists: GRPCStatus(code: .failedPrecondition, message: "etcdserver: Peer URLs already exists")
        case .memberNotEnoughStarted:
            GRPCStatus(code: .failedPrecondition, message: "etcdserver: re-configuration failed due to not enough started members")
        case .memberBadURLs: GRPCStatus(code: .invalidArgument, message: "etcdserver: given member URLs are invalid")
        case .memberNotLearner: GRPCStatus(code: .failedPrecondition, message: "etcdserver: can only promote a learner member")
        case .learnerNotReady:
            GRPCStatus(code: .failedPrecondition, message: "etcdserver: can only promote a learner member which is in sync with leader")
        case .tooManyLearners: GRPCStatus(code: .failedPrecondition, message: "etcdserver: too many learner members in cluster")
        case .notSupportedForLearner: GRPCStatus(code: .unavailable, message: "etcdserver: rpc not supported for learner")
        case .badLeaderTransferee: GRPCStatus(code: .failedPrecondition, message: "etcdserver: bad leader transferee")
        // Not in etcd's gRPC error table: it reaches clients as Unknown with its own text.
        case .leaderTransferTimeout:
            GRPCStatus(code: .unknown, message: "etcdserver: request timed out, leader transfer took too long")
        case .authNotEnabled: GRPCStatus(code: .failedPrecondition, message: "etcdserver: authentication is not enabled")
        case .permissionDenied: GRPCStatus(code: .permissionDenied, message: "etcdserver: permission denied")
        case .invalidAuthToken: GRPCStatus(code: .unauthenticated, message: "etcdserver: invalid auth token")
        case .rootUserNotExist: GRPCStatus(code: .failedPrecondition, message: "etcdserver: root user does not exist")
        case .rootRoleNotExist:
            GRPCStatus(code: .failedPrecondition, message: "etcdserver: root user does not have root role")
        case .userAlreadyExist: GRPCStatus(code: .failedPrecondition, message: "etcdserver: user name already exists")
        case .userEmpty: GRPCStatus(code: .invalidArgument, message: "etcdserver: user name is empty")
        case .userNotFound: GRPCStatus(code: .failedPrecondition, message: "etcdserver: user name not found")
        case .roleAlreadyExist: GRPCStatus(code: .failedPrecondition, message: "etcdserver: role name already exists")
        case .roleNotFound: GRPCStatus(code: .failedPrecondition, message: "etcdserver: role name not found")
        case .roleEmpty: GRPCStatus(code: .invalidArgument, message: "etcdserver: role name is empty")
        case .authFailed:
            GRPCStatus(code: .invalidArgument, message: "etcdserver: authentication failed, invalid user ID or password")
        case .roleNotGranted:
            GRPCStatus(code: .failedPrecondition, message: "etcdserver: role is not granted to the user")
        case .permissionNotGranted:
            GRPCStatus(code: .failedPrecondition, message: "etcdserver: permission is not granted to the role")
        case .authOldRevision: GRPCStatus(code: .invalidArgument, message: "etcdserver: revision of auth store is old")
        case .invalidAuthManagement: GRPCStatus(code: .invalidArgument, message: "etcdserver: invalid auth management")
        case .internal(let what): GRPCStatus(code: .unknown, message: what)
        }
    }
}
