// A refused TLS connection (bad handshake, untrusted or revoked certificate, plain text on a TLS
// port) is logged as etcd logs it and closed; the listener keeps serving.
import Foundation
import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Why our own check refused the peer's certificate, filled by the verification callback.
final class RejectionNote {
    var reason: String?
}

final class HandshakeFailureLogger: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let logger: Logger
    private let rejection: RejectionNote
    private var handshakeDone = false
    private var logged = false

    init(logger: Logger, rejection: RejectionNote) {
        self.logger = logger
        self.rejection = rejection
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls { handshakeDone = true }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !handshakeDone else {
            // After the handshake a peer that just disconnects (no close_notify) is normal.
            if case NIOSSLError.uncleanShutdown = error { context.close(promise: nil); return }
            context.fireErrorCaught(error)
            return
        }
        if !logged {
            logged = true
            let remote = context.channel.remoteAddress.map(Self.hostPort) ?? "unknown"
            let text = rejection.reason ?? GoTLSText.describe(error)
            logger.warning("rejected connection from \"\(remote)\" (error \"\(text)\", ServerName \"\")")
        }
        context.close(promise: nil)
    }

    static func hostPort(_ a: SocketAddress) -> String { a.goHostPort ?? "\(a)" }
}

extension SocketAddress {
    /// Go's "host:port" of an IP address (net.JoinHostPort; a net/http Request's RemoteAddr); nil
    /// for a unix socket.
    public var goHostPort: String? {
        guard let ip = ipAddress else { return nil }
        let port = self.port ?? 0
        if case .v6 = self { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }
}

/// Go's crypto/tls wording for BoringSSL's errors, so logs read as etcd's do.
public enum GoTLSText {
    private static let table: [(String, String)] = [
        ("SSLV3_ALERT_BAD_CERTIFICATE", "remote error: tls: bad certificate"),
        // Where Go sends bad_certificate for a certificate its application check refused (allowed
        // CN/hostname, CRL), BoringSSL sends internal_error (a refusal from the per-certificate
        // verify callback) or certificate_unknown: an etcd-swift peer refusing our certificate.
        ("TLSV1_ALERT_INTERNAL_ERROR", "remote error: tls: bad certificate"),
        ("SSLV3_ALERT_CERTIFICATE_UNKNOWN", "remote error: tls: bad certificate"),
        ("TLSV1_ALERT_UNKNOWN_CA", "remote error: tls: unknown certificate authority"),
        ("SSLV3_ALERT_CERTIFICATE_REVOKED", "remote error: tls: revoked certificate"),
        ("SSLV3_ALERT_CERTIFICATE_EXPIRED", "remote error: tls: expired certificate"),
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", "remote error: tls: handshake failure"),
        ("TLSV1_ALERT_PROTOCOL_VERSION", "remote error: tls: protocol version not supported"),
        ("TLSV1_ALERT_DECRYPT_ERROR", "remote error: tls: error decrypting message"),
        ("TLSV1_CERTIFICATE_REQUIRED", "remote error: tls: certificate required"),
        ("TLSV1_ALERT_NO_APPLICATION_PROTOCOL", "remote error: tls: no application protocol"),
        ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "tls: client didn't provide a certificate"),
        ("CERTIFICATE_VERIFY_FAILED", "x509: certificate signed by unknown authority"),
        ("NO_SHARED_CIPHER", "tls: no cipher suite supported by both client and server"),
        ("UNSUPPORTED_PROTOCOL", "tls: client offered only unsupported versions"),
        ("HTTP_REQUEST", "tls: first record does not look like a TLS handshake"),
        ("WRONG_VERSION_NUMBER", "tls: first record does not look like a TLS handshake"),
        ("PACKET_LENGTH_TOO_LONG", "tls: first record does not look like a TLS handshake"),
        ("RECORD_LENGTH_MISMATCH", "tls: first record does not look like a TLS handshake"),
    ]

    public static func describe(_ error: any Error) -> String {
        if case NIOSSLError.uncleanShutdown = error { return "EOF" }
        if case NIOSSLError.unableToValidateCertificate = error {
            return "x509: certificate is not valid for this address"
        }
        let text = String(describing: error)
        for (needle, go) in table where text.contains(needle) { return go }
        // Otherwise BoringSSL's reason code ("...:OPENSSL_internal:REASON at file:line").
        if let r = text.range(of: "OPENSSL_internal:") {
            let reason = text[r.upperBound...].prefix(while: { $0.isLetter || $0.isNumber || $0 == "_" })
            if !reason.isEmpty { return "tls: " + reason.lowercased().replacingOccurrences(of: "_", with: " ") }
        }
        return text
    }
}
