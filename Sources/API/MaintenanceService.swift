import EtcdProto
import GRPC
import Server

/// `etcdserverpb.Maintenance`, `etcdserverpb.Cluster` (read side) and `grpc.health.v1.Health`.
struct MaintenanceService {
    let node: ServerNode

    func register(on router: GRPCRouter) {
        let node = self.node
        router.unary("/etcdserverpb.Maintenance/Status") { (_: Etcdserverpb_StatusRequest, _) throws(ServerError) in
            node.status()
        }
        router.unary("/etcdserverpb.Maintenance/HashKV") { (r: Etcdserverpb_HashKVRequest, _) throws(ServerError) in
            try node.hashKV(revision: r.revision)
        }
        router.unary("/etcdserverpb.Maintenance/Hash") { (_: Etcdserverpb_HashRequest, _) throws(ServerError) in
            try node.hash()
        }
        router.unary("/etcdserverpb.Maintenance/Alarm") { (_: Etcdserverpb_AlarmRequest, _) throws(ServerError) in
            // No alarm is raised yet (quota enforcement answers NOSPACE per request instead).
            var response = Etcdserverpb_AlarmResponse()
            response.header = node.header()
            return response
        }
        router.unary("/etcdserverpb.Maintenance/Defragment") { (_: Etcdserverpb_DefragmentRequest, _) throws(ServerError) in
            // LMDB reuses freed pages itself; there is nothing to rewrite.
            var response = Etcdserverpb_DefragmentResponse()
            response.header = node.header()
            return response
        }
        router.unary("/etcdserverpb.Cluster/MemberList") { (_: Etcdserverpb_MemberListRequest, _) throws(ServerError) in
            node.memberList()
        }
        router.unary("/grpc.health.v1.Health/Check") { (_: Grpc_Health_V1_HealthCheckRequest, _) throws(ServerError) in
            var response = Grpc_Health_V1_HealthCheckResponse()
            response.status = .serving
            return response
        }
    }
}
