import Config
import EtcdProto
import GRPC
import Server

/// `etcdserverpb.Cluster`: the members, and changes to them (etcd's v3rpc/member.go).
struct ClusterService {
    let node: ServerNode

    func register(on router: GRPCRouter) {
        let node = self.node
        router.unary("/etcdserverpb.Cluster/MemberList") { (_: Etcdserverpb_MemberListRequest, _) throws(ServerError) in
            node.memberList()
        }
        router.unary("/etcdserverpb.Cluster/MemberAdd") { (r: Etcdserverpb_MemberAddRequest, _) throws(ServerError) in
            guard r.peerUrls.allSatisfy(Self.isValidPeerURL) else { throw .memberBadURLs }
            let (added, members) = try await node.addMember(peerURLs: r.peerUrls, isLearner: r.isLearner)
            var response = Etcdserverpb_MemberAddResponse()
            response.header = node.header()
            // etcd answers with the new member's id, URLs and learner flag only.
            var m = Etcdserverpb_Member()
            m.id = added.id
            m.peerUrls = added.peerURLs
            m.isLearner = added.isLearner
            response.member = m
            response.members = members.map(\.proto)
            return response
        }
        router.unary("/etcdserverpb.Cluster/MemberRemove") { (r: Etcdserverpb_MemberRemoveRequest, _) throws(ServerError) in
            var response = Etcdserverpb_MemberRemoveResponse()
            response.members = try await node.removeMember(id: r.id).map(\.proto)
            response.header = node.header()
            return response
        }
        router.unary("/etcdserverpb.Cluster/MemberUpdate") { (r: Etcdserverpb_MemberUpdateRequest, _) throws(ServerError) in
            var response = Etcdserverpb_MemberUpdateResponse()
            response.members = try await node.updateMember(id: r.id, peerURLs: r.peerUrls).map(\.proto)
            response.header = node.header()
            return response
        }
        router.unary("/etcdserverpb.Cluster/MemberPromote") { (r: Etcdserverpb_MemberPromoteRequest, _) throws(ServerError) in
            var response = Etcdserverpb_MemberPromoteResponse()
            response.members = try await node.promoteMember(id: r.id).map(\.proto)
            response.header = node.header()
            return response
        }
    }

    /// etcd's types.NewURLs: a scheme it serves, a host with a port, no path.
    static func isValidPeerURL(_ raw: String) -> Bool {
        guard let url = try? ServerURL.parse(raw) else { return false }
        return ["http", "https", "unix", "unixs"].contains(url.scheme) && url.port != nil && url.path.isEmpty
    }
}
