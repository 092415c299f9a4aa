// --client-crl-file / --peer-crl-file: etcd reads the CRL at each accepted connection and refuses
// a peer certificate whose serial number is listed. As etcd does, the CRL's own signature and
// dates are not checked; the file is re-read when it changes, so a rotated CRL takes effect.
import Foundation
import SwiftASN1
import Synchronization
import X509

public final class RevocationList: Sendable {
    private let path: String
    private struct Cache {
        var modified: Date?
        var size: Int = -1
        var serials: Set<[UInt8]> = []
    }
    private let cache = Mutex(Cache())

    /// Reads `path` now so that an unreadable CRL fails start-up rather than every connection.
    public init(path: String) throws(TLSSetupError) {
        self.path = path
        _ = try serials()
    }

    /// The revoked serial numbers (big-endian magnitudes without leading zeros).
    func serials() throws(TLSSetupError) -> Set<[UInt8]> {
        let attrs = try? FileManager.default.attributesOfItem(atPath: path)
        let modified = attrs?[.modificationDate] as? Date
        let size = (attrs?[.size] as? NSNumber)?.intValue ?? -1
        if let hit = cache.withLock({ c in c.modified == modified && c.size == size && modified != nil ? c.serials : nil }) {
            return hit
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TLSSetupError("open \(path): no such file or directory")
        }
        let parsed = try Self.parse(Array(data))
        cache.withLock { $0 = Cache(modified: modified, size: size, serials: parsed) }
        return parsed
    }

    /// nil when `cert` is not revoked; etcd's error text otherwise.
    public func check(_ cert: Certificate) -> String? {
        do {
            let revoked = try serials()
            let serial = Self.magnitude(cert.serialNumber.bytes)
            if revoked.contains(serial) {
                return "transport: certificate serial \(serial.map { String(format: "%02x", $0) }.joined()) revoked"
            }
            return nil
        } catch {
            return error.message
        }
    }

    /// A CRL in PEM ("X509 CRL") or DER: the serial numbers of its revokedCertificates.
    public static func parse(_ bytes: [UInt8]) throws(TLSSetupError) -> Set<[UInt8]> {
        var der = bytes
        if let text = String(bytes: bytes, encoding: .utf8), text.contains("-----BEGIN") {
            guard let doc = try? PEMDocument(pemString: text) else { throw TLSSetupError("x509: malformed crl") }
            der = doc.derBytes
        }
        do {
            let root = try DER.parse(der)
            guard case .constructed(let list) = root.content, let tbs = list.first(where: { _ in true }),
                  case .constructed(let fields) = tbs.content else { throw TLSSetupError("x509: malformed crl") }
            var items = Array(fields)
            if let first = items.first, first.identifier == .integer { items.removeFirst() }  // version
            guard items.count >= 3 else { throw TLSSetupError("x509: malformed crl") }
            items.removeFirst(3)  // signature, issuer, thisUpdate
            if let next = items.first, next.identifier == .utcTime || next.identifier == .generalizedTime {
                items.removeFirst()
            }
            var out = Set<[UInt8]>()
            guard let revoked = items.first, revoked.identifier == .sequence,
                  case .constructed(let entries) = revoked.content else { return out }
            for entry in entries {
                guard case .constructed(let parts) = entry.content, let serial = parts.first(where: { _ in true }),
                      serial.identifier == .integer, case .primitive(let value) = serial.content else {
                    throw TLSSetupError("x509: malformed crl")
                }
                out.insert(magnitude(value))
            }
            return out
        } catch let e as TLSSetupError {
            throw e
        } catch {
            throw TLSSetupError("x509: malformed crl: \(error)")
        }
    }

    static func magnitude<C: Collection<UInt8>>(_ bytes: C) -> [UInt8] {
        Array(bytes.drop(while: { $0 == 0 }))
    }
}
