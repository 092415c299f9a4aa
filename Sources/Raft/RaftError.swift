/// Every error the consensus core reports.
public enum RaftError: Error, Sendable, Hashable {
    /// The proposal was not accepted: there is no known leader, a leader transfer is under way, or
    /// this node is not a member. The proposer should retry later (possibly elsewhere).
    case proposalDropped
    /// A message to step was addressed to a local-only type or came from an unknown peer.
    case stepLocalMessage
    /// A response message from a peer this node does not track.
    case stepPeerNotFound
    /// The configuration is invalid (the associated text says why).
    case invalidConfig(String)
    /// A storage error surfaced while reading the log.
    case storage(RaftStorageError)
}

/// Errors of the ``RaftStorage`` protocol.
public enum RaftStorageError: Error, Sendable, Hashable {
    /// The requested index is older than the first available entry (compacted into a snapshot).
    case compacted
    /// The requested index is beyond the last available entry.
    case unavailable
    /// The snapshot is being produced and is not ready yet; raft retries later.
    case snapshotTemporarilyUnavailable
    /// The snapshot given is older than the one already stored.
    case snapOutOfDate
}
