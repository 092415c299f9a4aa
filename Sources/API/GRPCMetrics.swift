import EtcdMetrics
import GRPC

/// go-grpc-prometheus' server metrics and etcd's client byte counters (v3rpc's codec counts every
/// marshalled message), fed by the gRPC server's per-method observers.
final class GRPCMetricsObserver: GRPCCallObserver {
    let meters: GRPCMethodMeters
    var timesCalls: Bool { meters.handling != nil }

    init(_ meters: GRPCMethodMeters) { self.meters = meters }

    func started() { meters.started.increment() }

    func received(bytes: Int) {
        meters.received.increment()
        Meters.clientReceivedBytes.increment(by: Int64(bytes))
    }

    func sent(bytes: Int) {
        meters.sent.increment()
        Meters.clientSentBytes.increment(by: Int64(bytes))
    }

    /// Codes outside gRPC's range count as Unknown, as grpc-go maps them.
    func finished(code: Int, nanoseconds: UInt64) {
        meters.handled[code >= 0 && code < meters.handled.count ? code : 2].increment()
        meters.handling?.record(Double(nanoseconds) / 1e9)
    }

    /// Observes every method registered on `router` (every method gets its zero-valued series at
    /// once, as grpc_prometheus.Register does); `extensive` adds the handling-time histograms.
    static func install(on router: GRPCRouter, extensive: Bool) {
        router.setObservers { service, method, kind in
            let type: String
            switch kind {
            case .unary: type = "unary"
            case .serverStreaming: type = "server_stream"
            case .clientStreaming: type = "client_stream"
            case .bidiStreaming: type = "bidi_stream"
            }
            return GRPCMetricsObserver(GRPCMethodMeters(service: service, method: method, type: type,
                                                        handlingTime: extensive))
        }
    }
}
