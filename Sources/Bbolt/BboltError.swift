/// Why a bbolt file could not be read or written. The message names the page or bucket at fault.
public struct BboltError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        /// open/read/write/mmap failed (errno in the message).
        case io
        /// Neither meta page is valid: not a bbolt file, wrong version, or bad checksums.
        case invalidMeta
        /// A page, element or bucket points outside the file or has the wrong shape.
        case corrupt
        /// No bucket of that name.
        case bucketNotFound
        /// The writer was used out of order (unsorted keys, nested bucket calls, oversized key).
        case misuse
    }

    public let kind: Kind
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "bbolt: \(message)" }
}
