import CNghttp2
import NIOCore

// The connection's side of `ServerKeepalive`: it reports reads, pings and sent frames, and runs
// the keepalive timer.
extension ServerConnectionHandler {
    func startKeepalive() {
        guard let first = keepalive.firstTimer else { return }
        armKeepalive(after: first)
    }

    private func armKeepalive(after delay: Duration) {
        guard let loopBound, !closed else { return }
        keepaliveTimer = loopBound.eventLoop.scheduleTask(in: TimeAmount(delay)) { loopBound.value.keepaliveFired() }
    }

    private func keepaliveFired() {
        guard !closed else { return }
        switch keepalive.timerFired(at: .now) {
        case .wait(let delay):
            armKeepalive(after: delay)
        case .ping(let delay):
            session?.submitPing()
            flush()
            armKeepalive(after: delay)
        case .close:
            closeConnection()
        }
    }

    /// From inside nghttp2's read: GOAWAY is queued here, written and followed by the close once
    /// the read returns (nghttp2 must not write from its callbacks).
    func sessionPingReceived() {
        guard !closeAfterRead, keepalive.pingReceived(at: .now, openCalls: calls.count) else { return }
        session?.submitGoAway(errorCode: NGHTTP2_ENHANCE_YOUR_CALM.rawValue, debugData: Array("too_many_pings".utf8))
        closeAfterRead = true
    }

    func sessionSentHeadersOrData() { keepalive.sentHeadersOrData() }
}
