import EtcdDataDir
import Foundation
import NIOCore
import NIOPosix
import Storage
import TLS
import Transport

/// A running cluster as its members describe it (GET /members), for a member started with
/// `--initial-cluster-state existing`.
public struct ExistingCluster: Sendable {
    public var clusterID: UInt64
    public var members: [Member]
}

extension ServerNode {
    /// Whether the data dir holds a member's log (a member with one resumes from it and ignores
    /// the bootstrap flags).
    public static func hasLog(dataDir: String) -> Bool { WAL.exists(dir: MemberLayout.memberDir(dataDir: dataDir) + "/wal") }

    /// etcd's GetClusterFromRemotePeers: asks the other members of `--initial-cluster` for the
    /// running cluster; nil when none answers.
    public static func fetchExistingCluster(options: ServerOptions, peerTLS: TLSEndpoint?) async -> ExistingCluster? {
        let mine = Set(options.advertisePeerURLs)
        let urls = options.initialCluster.filter { $0.name != options.name }.flatMap(\.peerURLs).filter { !mine.contains($0) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fetched = await RemoteCluster.fetch(from: urls, tls: peerTLS, on: group.next(), timeout: .seconds(10))
        try? await group.shutdownGracefully()
        guard let answer = fetched,
              let array = try? JSONSerialization.jsonObject(with: Data(answer.membersJSON)) as? [Any]
        else { return nil }
        let members = array.compactMap { item -> Member? in
            guard let data = try? JSONSerialization.data(withJSONObject: item) else { return nil }
            return Member(json: Array(data))
        }
        return ExistingCluster(clusterID: answer.clusterID, members: members)
    }

    /// etcd's ValidateClusterAndAssignIDs: every running member must match one member of
    /// `--initial-cluster` by peer URLs, which then takes the running member's id.
    static func assignIDs(local: [Member], existing: ExistingCluster) throws(ServerError) -> [Member] {
        guard local.count == existing.members.count else { throw .internal("member count is unequal") }
        var assigned = local
        for e in existing.members {
            guard let j = assigned.firstIndex(where: { Set($0.peerURLs) == Set(e.peerURLs) }) else {
                throw .internal("PeerURLs: no match found for existing member (\(Identity.hex(e.id)), \(e.peerURLs)), last resolver error (<nil>)")
            }
            assigned[j].id = e.id
        }
        return assigned
    }
}
