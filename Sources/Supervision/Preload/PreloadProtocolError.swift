/// Why a preload frame could not be encoded or decoded. Every malformed input
/// ends here, never in a trap: the peer is another process and may be broken.
package enum PreloadProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The length prefix announces more than `PreloadWire.maxPayload` bytes.
    case frameTooLarge(length: Int)
    /// The payload is shorter than its version and kind bytes.
    case frameTooShort(length: Int)
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    /// The body of `kind` ended before `field` was complete.
    case truncated(kind: String, field: String)
    /// The body of `kind` goes on after its last field.
    case trailingBytes(kind: String, count: Int)
    /// A field's value breaks the protocol's rules (docs/preload-protocol.md).
    case invalidField(kind: String, field: String, reason: String)

    package var description: String {
        switch self {
        case .frameTooLarge(let length):
            "preload frame of \(length) bytes is larger than the limit of \(PreloadWire.maxPayload)"
        case .frameTooShort(let length):
            "preload frame of \(length) bytes is too short for its version and kind"
        case .unsupportedVersion(let version):
            "preload protocol version \(version) is not supported (drover speaks version \(PreloadWire.version))"
        case .unknownKind(let kind):
            "unknown preload message kind \(kind)"
        case .truncated(let kind, let field):
            "preload \(kind) frame ends before its \(field)"
        case .trailingBytes(let kind, let count):
            "preload \(kind) frame has \(count) unexpected bytes after its last field"
        case .invalidField(let kind, let field, let reason):
            "preload \(kind) frame: \(field) \(reason)"
        }
    }
}
