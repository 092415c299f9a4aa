import CProtobufC
import EtcdProto

/// One gateway route: an HTTP path (POST, body `*`) bound to a gRPC method, with the descriptors of
/// its request and response messages.
public struct Route: Sendable {
    public let method: String
    let request: MessageDescriptorBox
    let response: MessageDescriptorBox
}

/// A descriptor pointer is immutable static data, safe to share between threads.
struct MessageDescriptorBox: @unchecked Sendable {
    let pointer: MessageDescriptor
    init<M: ProtoMessage>(_ type: M.Type) {
        pointer = M._protobufCDescriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
    }
}

/// The routes of etcd 3.4's `google.api.http` options (rpc.proto, v3election.proto, v3lock.proto).
public enum Routes {
    /// Looks up a request path; `/v3beta/` is served as `/v3/`, as etcd rewrites it.
    public static func route(for path: String) -> Route? {
        var p = Substring(path)
        if p.hasPrefix("/v3beta/") { p = "/v3/" + p.dropFirst("/v3beta/".count) }
        return table[String(p)]
    }

    private static func r<Q: ProtoMessage, A: ProtoMessage>(_ method: String, _ q: Q.Type, _ a: A.Type) -> Route {
        Route(method: method, request: MessageDescriptorBox(q), response: MessageDescriptorBox(a))
    }

    static let table: [String: Route] = {
        let kv = "/etcdserverpb.KV/", lease = "/etcdserverpb.Lease/", cluster = "/etcdserverpb.Cluster/"
        let mt = "/etcdserverpb.Maintenance/", auth = "/etcdserverpb.Auth/"
        let election = "/v3electionpb.Election/", lock = "/v3lockpb.Lock/"
        let leaseRevoke = r(lease + "LeaseRevoke", Etcdserverpb_LeaseRevokeRequest.self, Etcdserverpb_LeaseRevokeResponse.self)
        let leaseTTL = r(lease + "LeaseTimeToLive", Etcdserverpb_LeaseTimeToLiveRequest.self,
                         Etcdserverpb_LeaseTimeToLiveResponse.self)
        let leaseLeases = r(lease + "LeaseLeases", Etcdserverpb_LeaseLeasesRequest.self, Etcdserverpb_LeaseLeasesResponse.self)
        return [
            "/v3/kv/range": r(kv + "Range", Etcdserverpb_RangeRequest.self, Etcdserverpb_RangeResponse.self),
            "/v3/kv/put": r(kv + "Put", Etcdserverpb_PutRequest.self, Etcdserverpb_PutResponse.self),
            "/v3/kv/deleterange": r(kv + "DeleteRange", Etcdserverpb_DeleteRangeRequest.self, Etcdserverpb_DeleteRangeResponse.self),
            "/v3/kv/txn": r(kv + "Txn", Etcdserverpb_TxnRequest.self, Etcdserverpb_TxnResponse.self),
            "/v3/kv/compaction": r(kv + "Compact", Etcdserverpb_CompactionRequest.self, Etcdserverpb_CompactionResponse.self),
            "/v3/watch": r("/etcdserverpb.Watch/Watch", Etcdserverpb_WatchRequest.self, Etcdserverpb_WatchResponse.self),
            "/v3/lease/grant": r(lease + "LeaseGrant", Etcdserverpb_LeaseGrantRequest.self, Etcdserverpb_LeaseGrantResponse.self),
            "/v3/lease/revoke": leaseRevoke,
            "/v3/kv/lease/revoke": leaseRevoke,
            "/v3/lease/keepalive": r(lease + "LeaseKeepAlive", Etcdserverpb_LeaseKeepAliveRequest.self,
                                     Etcdserverpb_LeaseKeepAliveResponse.self),
            "/v3/lease/timetolive": leaseTTL,
            "/v3/kv/lease/timetolive": leaseTTL,
            "/v3/lease/leases": leaseLeases,
            "/v3/kv/lease/leases": leaseLeases,
            "/v3/cluster/member/add": r(cluster + "MemberAdd", Etcdserverpb_MemberAddRequest.self, Etcdserverpb_MemberAddResponse.self),
            "/v3/cluster/member/remove": r(cluster + "MemberRemove", Etcdserverpb_MemberRemoveRequest.self,
                                           Etcdserverpb_MemberRemoveResponse.self),
            "/v3/cluster/member/update": r(cluster + "MemberUpdate", Etcdserverpb_MemberUpdateRequest.self,
                                           Etcdserverpb_MemberUpdateResponse.self),
            "/v3/cluster/member/list": r(cluster + "MemberList", Etcdserverpb_MemberListRequest.self, Etcdserverpb_MemberListResponse.self),
            "/v3/cluster/member/promote": r(cluster + "MemberPromote", Etcdserverpb_MemberPromoteRequest.self,
                                            Etcdserverpb_MemberPromoteResponse.self),
            "/v3/maintenance/alarm": r(mt + "Alarm", Etcdserverpb_AlarmRequest.self, Etcdserverpb_AlarmResponse.self),
            "/v3/maintenance/status": r(mt + "Status", Etcdserverpb_StatusRequest.self, Etcdserverpb_StatusResponse.self),
            "/v3/maintenance/defragment": r(mt + "Defragment", Etcdserverpb_DefragmentRequest.self, Etcdserverpb_DefragmentResponse.self),
            // Hash and HashKV share this path; etcd 3.4.23 answers it with Hash (the first registered).
            "/v3/maintenance/hash": r(mt + "Hash", Etcdserverpb_HashRequest.self, Etcdserverpb_HashResponse.self),
            "/v3/maintenance/snapshot": r(mt + "Snapshot", Etcdserverpb_SnapshotRequest.self, Etcdserverpb_SnapshotResponse.self),
            "/v3/maintenance/transfer-leadership": r(mt + "MoveLeader", Etcdserverpb_MoveLeaderRequest.self,
                                                     Etcdserverpb_MoveLeaderResponse.self),
            "/v3/auth/enable": r(auth + "AuthEnable", Etcdserverpb_AuthEnableRequest.self, Etcdserverpb_AuthEnableResponse.self),
            "/v3/auth/disable": r(auth + "AuthDisable", Etcdserverpb_AuthDisableRequest.self, Etcdserverpb_AuthDisableResponse.self),
            "/v3/auth/authenticate": r(auth + "Authenticate", Etcdserverpb_AuthenticateRequest.self, Etcdserverpb_AuthenticateResponse.self),
            "/v3/auth/user/add": r(auth + "UserAdd", Etcdserverpb_AuthUserAddRequest.self, Etcdserverpb_AuthUserAddResponse.self),
            "/v3/auth/user/get": r(auth + "UserGet", Etcdserverpb_AuthUserGetRequest.self, Etcdserverpb_AuthUserGetResponse.self),
            "/v3/auth/user/list": r(auth + "UserList", Etcdserverpb_AuthUserListRequest.self, Etcdserverpb_AuthUserListResponse.self),
            "/v3/auth/user/delete": r(auth + "UserDelete", Etcdserverpb_AuthUserDeleteRequest.self, Etcdserverpb_AuthUserDeleteResponse.self),
            "/v3/auth/user/changepw": r(auth + "UserChangePassword", Etcdserverpb_AuthUserChangePasswordRequest.self,
                                        Etcdserverpb_AuthUserChangePasswordResponse.self),
            "/v3/auth/user/grant": r(auth + "UserGrantRole", Etcdserverpb_AuthUserGrantRoleRequest.self,
                                     Etcdserverpb_AuthUserGrantRoleResponse.self),
            "/v3/auth/user/revoke": r(auth + "UserRevokeRole", Etcdserverpb_AuthUserRevokeRoleRequest.self,
                                      Etcdserverpb_AuthUserRevokeRoleResponse.self),
            "/v3/auth/role/add": r(auth + "RoleAdd", Etcdserverpb_AuthRoleAddRequest.self, Etcdserverpb_AuthRoleAddResponse.self),
            "/v3/auth/role/get": r(auth + "RoleGet", Etcdserverpb_AuthRoleGetRequest.self, Etcdserverpb_AuthRoleGetResponse.self),
            "/v3/auth/role/list": r(auth + "RoleList", Etcdserverpb_AuthRoleListRequest.self, Etcdserverpb_AuthRoleListResponse.self),
            "/v3/auth/role/delete": r(auth + "RoleDelete", Etcdserverpb_AuthRoleDeleteRequest.self, Etcdserverpb_AuthRoleDeleteResponse.self),
            "/v3/auth/role/grant": r(auth + "RoleGrantPermission", Etcdserverpb_AuthRoleGrantPermissionRequest.self,
                                     Etcdserverpb_AuthRoleGrantPermissionResponse.self),
            "/v3/auth/role/revoke": r(auth + "RoleRevokePermission", Etcdserverpb_AuthRoleRevokePermissionRequest.self,
                                      Etcdserverpb_AuthRoleRevokePermissionResponse.self),
            "/v3/election/campaign": r(election + "Campaign", V3electionpb_CampaignRequest.self, V3electionpb_CampaignResponse.self),
            "/v3/election/proclaim": r(election + "Proclaim", V3electionpb_ProclaimRequest.self, V3electionpb_ProclaimResponse.self),
            "/v3/election/leader": r(election + "Leader", V3electionpb_LeaderRequest.self, V3electionpb_LeaderResponse.self),
            "/v3/election/observe": r(election + "Observe", V3electionpb_LeaderRequest.self, V3electionpb_LeaderResponse.self),
            "/v3/election/resign": r(election + "Resign", V3electionpb_ResignRequest.self, V3electionpb_ResignResponse.self),
            "/v3/lock/lock": r(lock + "Lock", V3lockpb_LockRequest.self, V3lockpb_LockResponse.self),
            "/v3/lock/unlock": r(lock + "Unlock", V3lockpb_UnlockRequest.self, V3lockpb_UnlockResponse.self),
        ]
    }()
}
