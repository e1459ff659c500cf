/// The two HTTP versions drover speaks on the wire. Anything else that is
/// still shaped like `HTTP/x.y` is answered with 505, not 400.
package enum HTTPVersion: Sendable, Hashable {
    case http10
    case http11

    /// The protocol string as it appears on a start line.
    package var text: String {
        switch self {
        case .http10: return "HTTP/1.0"
        case .http11: return "HTTP/1.1"
        }
    }
}

extension HTTPVersion {
    /// Reads the version of a request or status line: exactly `HTTP/1.1` or
    /// `HTTP/1.0`; another well-formed `HTTP/d.d` is 505, anything else 400.
    /// The name is case-sensitive (RFC 9112 §2.3): `http/1.1` is not HTTP.
    init(parsing bytes: UnsafeRawBufferPointer) throws(HTTPParseError) {
        guard bytes.count == 8, bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "T"),
              bytes[2] == UInt8(ascii: "T"), bytes[3] == UInt8(ascii: "P"), bytes[4] == UInt8(ascii: "/"),
              (0x30...0x39).contains(bytes[5]), bytes[6] == 0x2E, (0x30...0x39).contains(bytes[7]) else {
            throw .badRequest("malformed HTTP version")
        }
        switch (bytes[5], bytes[7]) {
        case (0x31, 0x31): self = .http11
        case (0x31, 0x30): self = .http10
        default: throw HTTPParseError(status: 505, reason: "HTTP version not supported")
        }
    }
}
