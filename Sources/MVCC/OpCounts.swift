import EtcdMetrics

/// The operations one transaction made, added to etcd's mvcc counters when it ends (etcd's
/// metricsTxnWrite): every range, put and delete call counts, and a transaction of more than one
/// operation counts as a txn.
struct OpCounts {
    var ranges = 0
    var puts = 0
    var deletes = 0

    /// Adds the counts to the metrics and starts over (so a second call adds nothing).
    mutating func flush() {
        let total = ranges + puts + deletes
        guard total > 0 else { return }
        if total > 1 { Meters.txnTotal.increment() }
        if ranges > 0 { Meters.rangeTotal.increment(by: Int64(ranges)) }
        if puts > 0 { Meters.putTotal.increment(by: Int64(puts)) }
        if deletes > 0 { Meters.deleteTotal.increment(by: Int64(deletes)) }
        self = OpCounts()
    }
}
