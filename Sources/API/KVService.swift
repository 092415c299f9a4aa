import EtcdProto
import GRPC
import Server

/// `etcdserverpb.KV`: check the request as etcd's v3rpc layer does, then hand it to the server.
struct KVService {
    let node: ServerNode

    func register(on router: GRPCRouter) {
        let node = self.node
        router.unary("/etcdserverpb.KV/Range") { (r: Etcdserverpb_RangeRequest, _) throws(ServerError) in
            try RequestChecks.check(r)
            return try await node.range(r)
        }
        router.unary("/etcdserverpb.KV/Put") { (r: Etcdserverpb_PutRequest, _) throws(ServerError) in
            try RequestChecks.check(r)
            return try await node.put(r)
        }
        router.unary("/etcdserverpb.KV/DeleteRange") { (r: Etcdserverpb_DeleteRangeRequest, _) throws(ServerError) in
            try RequestChecks.check(r)
            return try await node.deleteRange(r)
        }
        router.unary("/etcdserverpb.KV/Txn") { (r: Etcdserverpb_TxnRequest, _) throws(ServerError) in
            try RequestChecks.check(r, maxTxnOps: node.options.maxTxnOps)
            return try await node.txn(r)
        }
        router.unary("/etcdserverpb.KV/Compact") { (r: Etcdserverpb_CompactionRequest, _) throws(ServerError) in
            try await node.compact(r)
        }
    }
}
