// What a member joining a running cluster asks its peers first (etcd's GetClusterFromRemotePeers):
// GET /members on each peer URL in turn, for the cluster's id and its members.
import NIOCore
import TLS

public enum RemoteCluster {
    /// The first answer: the cluster id (X-Etcd-Cluster-ID) and the members' JSON array; nil when
    /// no URL answered with both.
    public static func fetch(from urls: [String], tls: TLSEndpoint?, on loop: any EventLoop, timeout: TimeAmount) async
        -> (clusterID: UInt64, membersJSON: [UInt8])?
    {
        for raw in urls {
            guard let url = PeerURL(raw) else { continue }
            let response = try? await PeerHTTPClient.request(
                on: loop, url: url, tls: tls, method: .GET, path: "/members", headers: [], body: .none,
                connectTimeout: timeout, timeout: timeout).get()
            guard let response, response.status == 200,
                  let header = response.headers.first(name: PeerHeader.clusterID),
                  let id = UInt64(header, radix: 16)
            else { continue }
            return (id, response.body)
        }
        return nil
    }
}
