/// Header fields whose meaning drover acts on, recognised once per line
/// while a head is scanned, so later decisions (framing, what a proxy must
/// not forward) compare a byte, not a string.
package enum HTTPKnownField: UInt8 {
    case other, host, contentLength, transferEncoding, connection, keepAlive, te, trailer
    case proxyConnection, upgrade, expect, xForwardedFor, xRealIP, xForwardedProto, xRequestID
    case date, maxForwards

    /// Hop-by-hop (RFC 9110 §7.6.1 and the fields it says to remove).
    package var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .te, .trailer, .proxyConnection, .upgrade, .transferEncoding: return true
        default: return false
        }
    }

    /// Fields a `Connection` option never makes hop-by-hop. RFC 9110 §7.6.1
    /// says a sender must not nominate a field meant for every recipient;
    /// these are ones drover itself relies on end to end (Host routes the
    /// request; the framing fields are redone by drover anyway; Date is
    /// added when missing), so such a nomination is ignored, never obeyed.
    package var isNeverNominated: Bool {
        switch self {
        case .host, .contentLength, .transferEncoding, .date: return true
        default: return false
        }
    }

    private static let table: [(name: String, field: HTTPKnownField)] = [
        ("host", .host), ("content-length", .contentLength), ("transfer-encoding", .transferEncoding),
        ("connection", .connection), ("keep-alive", .keepAlive), ("te", .te), ("trailer", .trailer),
        ("proxy-connection", .proxyConnection), ("upgrade", .upgrade), ("expect", .expect),
        ("x-forwarded-for", .xForwardedFor), ("x-real-ip", .xRealIP), ("x-forwarded-proto", .xForwardedProto),
        ("x-request-id", .xRequestID), ("date", .date), ("max-forwards", .maxForwards),
    ]

    package static func classify(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPKnownField {
        let length = range.count
        // Shorter or longer than every name in the table: no comparison needed.
        guard length >= 2, length <= 17 else { return .other }
        for (name, field) in table where name.utf8.count == length {
            if HTTPHeadBytes.equalsLowercase(bytes, range, name) { return field }
        }
        return .other
    }
}
