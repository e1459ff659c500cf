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

    /// Names by length and first letter, so a field name is compared
    /// with at most one name (the literal's bytes, no String).
    package static func classify(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPKnownField {
        guard range.count >= 2, range.count <= 17 else { return .other }
        func named(_ name: StaticString) -> Bool { HTTPHeadBytes.equalsLowercase(bytes, range, name) }
        let first = HTTPSyntax.lowercased(bytes[range.lowerBound])
        switch (range.count, first) {
        case (2, UInt8(ascii: "t")): return named("te") ? .te : .other
        case (4, UInt8(ascii: "h")): return named("host") ? .host : .other
        case (4, UInt8(ascii: "d")): return named("date") ? .date : .other
        case (6, UInt8(ascii: "e")): return named("expect") ? .expect : .other
        case (7, UInt8(ascii: "t")): return named("trailer") ? .trailer : .other
        case (7, UInt8(ascii: "u")): return named("upgrade") ? .upgrade : .other
        case (9, UInt8(ascii: "x")): return named("x-real-ip") ? .xRealIP : .other
        case (10, UInt8(ascii: "c")): return named("connection") ? .connection : .other
        case (10, UInt8(ascii: "k")): return named("keep-alive") ? .keepAlive : .other
        case (12, UInt8(ascii: "x")): return named("x-request-id") ? .xRequestID : .other
        case (12, UInt8(ascii: "m")): return named("max-forwards") ? .maxForwards : .other
        case (14, UInt8(ascii: "c")): return named("content-length") ? .contentLength : .other
        case (15, UInt8(ascii: "x")): return named("x-forwarded-for") ? .xForwardedFor : .other
        case (16, UInt8(ascii: "p")): return named("proxy-connection") ? .proxyConnection : .other
        case (17, UInt8(ascii: "t")): return named("transfer-encoding") ? .transferEncoding : .other
        case (17, UInt8(ascii: "x")): return named("x-forwarded-proto") ? .xForwardedProto : .other
        default: return .other
        }
    }
}
