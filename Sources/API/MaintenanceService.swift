import Dispatch
import EtcdProto
import GRPC
import Server

/// `etcdserverpb.Maintenance` and `grpc.health.v1.Health`.
struct MaintenanceService {
    let node: ServerNode

    func register(on router: GRPCRouter) {
        let node = self.node
        router.unary("/etcdserverpb.Maintenance/Status") { (_: Etcdserverpb_StatusRequest, _) throws(ServerError) in
            node.status()
        }
        // Hashes read the whole key space: off the event loop, so other calls keep flowing.
        router.unary("/etcdserverpb.Maintenance/HashKV") { (r: Etcdserverpb_HashKVRequest, _) throws(ServerError) in
            do throws(ServerError) { try await node.checkAdmin() } catch { throw error.unconvertedAuth }
            return try await offLoop { () throws(ServerError) in try node.hashKV(revision: r.revision) }
        }
        router.unary("/etcdserverpb.Maintenance/Hash") { (_: Etcdserverpb_HashRequest, _) throws(ServerError) in
            do throws(ServerError) { try await node.checkAdmin() } catch { throw error.unconvertedAuth }
            return try await offLoop { () throws(ServerError) in try node.hash() }
        }
        router.unary("/etcdserverpb.Maintenance/Alarm") { (r: Etcdserverpb_AlarmRequest, _) throws(ServerError) in
            // etcd proposes every Alarm call, a GET too, so a bad token is refused even there.
            do throws(ServerError) {
                _ = try await node.currentAuthInfo()
                return try await node.alarm(r)
            } catch { throw error.unconvertedAuth }
        }
        router.unary("/etcdserverpb.Maintenance/Defragment") { (_: Etcdserverpb_DefragmentRequest, _) throws(ServerError) in
            do throws(ServerError) { try await node.checkAdmin() } catch { throw error.unconvertedAuth }
            // LMDB reuses freed pages itself, and the quota counts pages in use; nothing to rewrite.
            // etcd's answer carries no header.
            return Etcdserverpb_DefragmentResponse()
        }
        router.unary("/etcdserverpb.Maintenance/MoveLeader") { (r: Etcdserverpb_MoveLeaderRequest, _) throws(ServerError) in
            try await node.moveLeader(to: r.targetID)
            return Etcdserverpb_MoveLeaderResponse()  // etcd's answer carries no header
        }
        registerSnapshot(on: router)
        router.unary("/grpc.health.v1.Health/Check") { (_: Grpc_Health_V1_HealthCheckRequest, _) throws(ServerError) in
            var response = Grpc_Health_V1_HealthCheckResponse()
            response.status = .serving
            return response
        }
    }
}

/// Runs blocking work on a global dispatch queue and waits for it without holding the caller's
/// executor (a connection's event loop).
func offLoop<T: Sendable>(_ work: @escaping @Sendable () throws(ServerError) -> T) async throws(ServerError) -> T {
    let result: Result<T, ServerError> = await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            do throws(ServerError) { continuation.resume(returning: .success(try work())) } catch {
                continuation.resume(returning: .failure(error))
            }
        }
    }
    return try result.get()
}
