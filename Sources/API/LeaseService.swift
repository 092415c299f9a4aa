import EtcdProto
import GRPC
import Server

/// `etcdserverpb.Lease`.
struct LeaseService {
    let node: ServerNode

    func register(on router: GRPCRouter) {
        let node = self.node
        router.unary("/etcdserverpb.Lease/LeaseGrant") { (r: Etcdserverpb_LeaseGrantRequest, _) throws(ServerError) in
            try await node.leaseGrant(r)
        }
        router.unary("/etcdserverpb.Lease/LeaseRevoke") { (r: Etcdserverpb_LeaseRevokeRequest, _) throws(ServerError) in
            try await node.leaseRevoke(r)
        }
        router.unary("/etcdserverpb.Lease/LeaseTimeToLive") { (r: Etcdserverpb_LeaseTimeToLiveRequest, _) throws(ServerError) in
            try await node.leaseTimeToLive(r)
        }
        router.unary("/etcdserverpb.Lease/LeaseLeases") { (_: Etcdserverpb_LeaseLeasesRequest, _) throws(ServerError) in
            node.leaseLeases()
        }
        // One response per keepalive request, in order; the stream ends when the client's does.
        router.addBidiStreaming("/etcdserverpb.Lease/LeaseKeepAlive") { requests, responses, _ in
            for try await message in requests {
                let request: Etcdserverpb_LeaseKeepAliveRequest = try ProtoCodec.decode(message)
                let response: Etcdserverpb_LeaseKeepAliveResponse
                do throws(ServerError) { response = try await node.leaseRenew(id: request.id) } catch { throw error.grpcStatus }
                try await responses.send(ProtoCodec.encode(response))
            }
        }
    }
}
