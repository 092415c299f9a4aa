import NIOCore

/// Per-method call accounting, as go-grpc-prometheus' interceptors keep it: the server calls these
/// for every call of one method that passes the router's admission check. Made once per method
/// (``GRPCRouter/setObservers(_:)``), so a call finds its observer with the handler and only
/// reports to it; implementations must be cheap (atomics) and never block.
public protocol GRPCCallObserver: AnyObject, Sendable {
    /// Whether `finished` wants the call's duration (the server reads the clock only then).
    var timesCalls: Bool { get }
    func started()
    /// A request message of `bytes` bytes (without the 5-byte gRPC frame header) reached the handler.
    func received(bytes: Int)
    /// A response message of `bytes` bytes was queued.
    func sent(bytes: Int)
    /// The call ended with `code`; `nanoseconds` since it started when `timesCalls`, else 0.
    func finished(code: Int, nanoseconds: UInt64)
}

extension GRPCRouter {
    /// Installs an observer for every method registered so far: `make` gets the service, method
    /// and shape of each, and may answer nil to leave a method unobserved. Call after the last
    /// `add...` and before serving.
    public func setObservers(
        _ make: (_ service: String, _ method: String, _ kind: GRPCCallKind) -> (any GRPCCallObserver)?
    ) {
        let methods = snapshot().methods
        var observers: [String: any GRPCCallObserver] = [:]
        for (path, handler) in methods {
            guard let (service, method) = Self.split(path) else { continue }
            let kind: GRPCCallKind
            switch handler {
            case .unary: kind = .unary
            case .serverStreaming: kind = .serverStreaming
            case .clientStreaming: kind = .clientStreaming
            case .bidiStreaming: kind = .bidiStreaming
            }
            if let o = make(service, method, kind) { observers[path] = o }
        }
        setObserverTable(observers)
    }
}

extension ServerCall {
    /// Starts accounting for a call that passed admission.
    func observe(_ observer: (any GRPCCallObserver)?) {
        guard let observer else { return }
        self.observer = observer
        observer.started()
        if observer.timesCalls { startedAt = NIODeadline.now().uptimeNanoseconds }
    }

    /// Reports the final status once.
    func reportFinished(_ code: GRPCStatus.Code) {
        guard let o = observer else { return }
        observer = nil
        o.finished(code: Int(code.rawValue),
                   nanoseconds: o.timesCalls ? NIODeadline.now().uptimeNanoseconds &- startedAt : 0)
    }
}
