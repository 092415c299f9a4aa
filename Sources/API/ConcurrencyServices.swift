import EtcdProto
import GRPC
import Server

/// `v3lockpb.Lock` and `v3electionpb.Election`: etcd's recipes, run by the server.
struct ConcurrencyServices {
    let node: ServerNode

    func register(on router: GRPCRouter) {
        let node = self.node
        let router = ClientErrors(router: router)
        router.unary("/v3lockpb.Lock/Lock") { (r: V3lockpb_LockRequest, _) throws(ServerError) in
            let (header, key) = try await node.lock(name: r.name, lease: r.lease)
            var response = V3lockpb_LockResponse()
            response.header = node.fill(header)
            response.key = key
            return response
        }
        router.unary("/v3lockpb.Lock/Unlock") { (r: V3lockpb_UnlockRequest, _) throws(ServerError) in
            var response = V3lockpb_UnlockResponse()
            response.header = node.fill(try await node.unlock(key: r.key))
            return response
        }
        router.unary("/v3electionpb.Election/Campaign") { (r: V3electionpb_CampaignRequest, _) throws(ServerError) in
            let (header, leader) = try await node.campaign(name: r.name, lease: r.lease, value: r.value)
            var response = V3electionpb_CampaignResponse()
            response.header = node.fill(header)
            response.leader = leader
            return response
        }
        router.unary("/v3electionpb.Election/Proclaim") { (r: V3electionpb_ProclaimRequest, _) throws(ServerError) in
            guard let leader = r.leader else { throw .internal(#""leader" field must be provided"#) }
            var response = V3electionpb_ProclaimResponse()
            response.header = node.fill(try await node.proclaim(leader: leader, value: r.value))
            return response
        }
        router.unary("/v3electionpb.Election/Resign") { (r: V3electionpb_ResignRequest, _) throws(ServerError) in
            guard let leader = r.leader else { throw .internal(#""leader" field must be provided"#) }
            var response = V3electionpb_ResignResponse()
            response.header = node.fill(try await node.resign(leader: leader))
            return response
        }
        router.unary("/v3electionpb.Election/Leader") { (r: V3electionpb_LeaderRequest, _) throws(ServerError) in
            let (header, kv) = try await node.electionLeader(name: r.name)
            var response = V3electionpb_LeaderResponse()
            response.header = node.fill(header)
            response.kv = kv
            return response
        }
        router.base.addServerStreaming("/v3electionpb.Election/Observe") { message, responses, _ in
            let request: V3electionpb_LeaderRequest = try ProtoCodec.decode(message)
            do {
                try await node.observe(name: request.name) { header, kv in
                    var response = V3electionpb_LeaderResponse()
                    response.header = node.fill(header)
                    response.kv = kv
                    try await responses.send(ProtoCodec.encode(response))
                    return true
                }
            } catch let error as ServerError where error.isAuthRefusal {
                // etcd's observer just closes its channel when a read fails: the stream ends OK.
                return
            }
        }
    }
}

/// Registers unary calls whose refusals look as etcd's in-process client makes them.
private struct ClientErrors {
    let base: GRPCRouter
    init(router: GRPCRouter) { base = router }

    func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ path: String, _ body: @escaping @Sendable (Request, ServerContext) async throws(ServerError) -> Response
    ) {
        base.unary(path) { (request: Request, context) throws(ServerError) in
            do throws(ServerError) { return try await body(request, context) } catch { throw error.viaClient }
        }
    }
}
