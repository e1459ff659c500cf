/// Reading Content-Length and Transfer-Encoding (RFC 9112 §6.1, §6.3) for
/// `HTTPResponseParser` (health probes, the CLI client). Requests are
/// framed by `HTTPRequestHeadRanges` alone, on every listener.
enum HTTPFramingRules {
    /// The single Content-Length value, or nil when absent. Repeats are
    /// accepted only when every element is the same number (`5, 5`).
    static func contentLength(_ headers: HTTPHeaders) throws(HTTPParseError) -> Int? {
        let values = headers.values(for: "content-length")
        guard !values.isEmpty else { return nil }
        var result: Int?
        for value in values {
            // Split on bytes keeping empties: `5,` and an empty value are errors.
            for element in value.utf8.split(separator: HTTPSyntax.comma, omittingEmptySubsequences: false) {
                let digits = HTTPSyntax.trimmingWhitespace(element)
                guard let number = parseDigits(digits) else { throw .badRequest("invalid Content-Length") }
                if let result, result != number { throw .badRequest("conflicting Content-Length values") }
                result = number
            }
        }
        return result
    }

    /// 1*DIGIT without sign, guarding overflow.
    private static func parseDigits<C: Collection>(_ bytes: C) -> Int? where C.Element == UInt8 {
        guard !bytes.isEmpty else { return nil }
        var number = 0
        for b in bytes {
            guard b >= 0x30, b <= 0x39 else { return nil }
            let (times10, o1) = number.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(b - 0x30))
            if o1 || o2 { return nil }
            number = sum
        }
        return number
    }

    enum TransferCoding: Equatable {
        case absent
        /// Exactly `chunked`: the only coding drover decodes.
        case chunked
        /// `chunked` is not the final coding (or appears twice): framing is
        /// unknowable, 400.
        case chunkedNotFinal
        /// Other codings before a final `chunked` (e.g. `gzip, chunked`): 501.
        case unsupported
    }

    static func transferCoding(_ headers: HTTPHeaders) -> TransferCoding {
        guard headers.contains(name: "transfer-encoding") else { return .absent }
        let codings = headers.listElements(for: "transfer-encoding")
        guard let last = codings.last, HTTPSyntax.equalsIgnoringCase(last, "chunked") else { return .chunkedNotFinal }
        let chunkedCount = codings.count { HTTPSyntax.equalsIgnoringCase($0, "chunked") }
        if chunkedCount > 1 { return .chunkedNotFinal }
        return codings.count == 1 ? .chunked : .unsupported
    }

    /// Whether the connection may be reused after this message (RFC 9112 §9.3).
    static func keepAlive(version: HTTPVersion, headers: HTTPHeaders) -> Bool {
        if headers.contains(token: "close", in: "connection") { return false }
        return version == .http11 || headers.contains(token: "keep-alive", in: "connection")
    }
}
