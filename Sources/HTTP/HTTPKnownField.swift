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

    /// Names by length, so a field name is compared with at most three
    /// (its length and the literals' bytes, no String per comparison).
    package static func classify(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPKnownField {
        func named(_ name: StaticString) -> Bool { HTTPHeadBytes.equalsLowercase(bytes, range, name) }
        switch range.count {
        case 2: return named("te") ? .te : .other
        case 4:
            if named("host") { return .host }
            return named("date") ? .date : .other
        case 6: return named("expect") ? .expect : .other
        case 7:
            if named("trailer") { return .trailer }
            return named("upgrade") ? .upgrade : .other
        case 9: return named("x-real-ip") ? .xRealIP : .other
        case 10:
            if named("connection") { return .connection }
            return named("keep-alive") ? .keepAlive : .other
        case 12:
            if named("x-request-id") { return .xRequestID }
            return named("max-forwards") ? .maxForwards : .other
        case 14: return named("content-length") ? .contentLength : .other
        case 15: return named("x-forwarded-for") ? .xForwardedFor : .other
        case 16: return named("proxy-connection") ? .proxyConnection : .other
        case 17:
            if named("transfer-encoding") { return .transferEncoding }
            return named("x-forwarded-proto") ? .xForwardedProto : .other
        default: return .other
        }
    }
}
