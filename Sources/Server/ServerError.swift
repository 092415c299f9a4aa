/// Every error the server returns to a client. The API layer maps each to etcd's gRPC status and
/// message in one table (`API/StatusTable.swift`); nothing else in the server picks codes or strings.
public enum ServerError: Error, Sendable, Equatable {
    // Request checks.
    case emptyKey
    case keyNotFound
    case valueProvided
    case leaseProvided
    case tooManyOps
    case duplicateKey
    case requestTooLarge
    // MVCC.
    case compacted
    case futureRevision
    case noSpace
    // Leases.
    case leaseNotFound
    case leaseExists
    case leaseTTLTooLarge
    // Cluster and lifecycle.
    case memberNotFound
    case noLeader
    case notLeader
    case stopped
    case timeout
    case timeoutDueToLeaderFail
    case timeoutDueToConnectionLost
    case leaderChanged
    case tooManyRequests
    case corrupt
    case unhealthy
    // Membership changes.
    case memberExists
    case peerURLExists
    case memberNotEnoughStarted
    case memberBadURLs
    case memberNotLearner
    case learnerNotReady
    case tooManyLearners
    case badLeaderTransferee
    case leaderTransferTimeout
    case notSupportedForLearner
    // Auth.
    case authNotEnabled
    case permissionDenied
    case invalidAuthToken
    case rootUserNotExist
    case rootRoleNotExist
    case userAlreadyExist
    case userEmpty
    case userNotFound
    case roleAlreadyExist
    case roleNotFound
    case roleEmpty
    case authFailed
    case roleNotGranted
    case permissionNotGranted
    case authOldRevision
    case invalidAuthManagement
    /// An unexpected internal failure (storage I/O): the message says what failed.
    case `internal`(String)
}
