/// A request head interpreted in place: offsets into the bytes that arrived,
/// the framing worked out with every ambiguous combination refused (RFC 9112
/// §6.1, §6.3; proxy-checklist H3–H20), Host and the target's authority
/// checked (RFC 9112 §3.2), and what a proxy's upstream copy must leave out
/// or change. These are drover's one set of request-head rules: the
/// proxy reads its requests with them directly (no String per field, built
/// once per request), and `HTTPRequestParser` converts the result for the
/// control and admin listeners, so no request is read two ways.
package struct HTTPRequestHeadRanges {
    package enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
    }

    /// The largest Max-Forwards drover counts; a larger value is taken as
    /// this (RFC 9110 §7.6.2 lets a recipient cap it at what it supports).
    package static let maxForwardsCeiling = 1_000_000_000

    package var method: Range<Int>
    package var isHead = false
    package var isTrace = false
    /// TRACE or OPTIONS: the methods Max-Forwards applies to (RFC 9110 §7.6.2).
    package var honorsMaxForwards = false
    /// A TRACE or OPTIONS request's Max-Forwards (at most the ceiling): at 0
    /// the proxy answers it itself, above 0 it forwards one less.
    package var maxForwards: Int?
    /// GET, HEAD, OPTIONS, TRACE, PUT, DELETE (RFC 9110 §9.2.2).
    package var isIdempotent = false
    /// The target to send upstream: origin-form (`/x?y`) or `*`.
    package var originTarget: Range<Int>
    /// An absolute-form target's authority: it replaces Host (RFC 9112 §3.2.2).
    package var authority: Range<Int>?
    package var version: HTTPVersion
    package var framing: Framing = .none
    package var keepAlive = true
    package var expectsContinue = false
    package var hasHost = false
    /// The first usable X-Request-Id: the id a proxy logs and forwards.
    var requestID: Range<Int>?
    /// X-Forwarded-For values a proxy extends with the client's address.
    var forwardedFor: [Range<Int>] = []
    /// Field names listed in Connection: removed before forwarding.
    package var nominated: [Range<Int>] = []

    /// Interprets a complete head (`scanner` has just returned `.complete`).
    package static func parse(_ bytes: UnsafeRawBufferPointer, _ scanner: HTTPHeadScanner, maxBody: Int) throws(HTTPParseError) -> HTTPRequestHeadRanges {
        let line = scanner.startLine
        // method SP request-target SP HTTP-version, exactly one SP apart.
        var firstSpace = -1, lastSpace = -1
        for index in line where bytes[index] == HTTPSyntax.space {
            if firstSpace < 0 { firstSpace = index }
            lastSpace = index
        }
        guard firstSpace > line.lowerBound, lastSpace > firstSpace else { throw .badRequest("malformed request line") }
        let method = line.lowerBound..<firstSpace
        let target = (firstSpace + 1)..<lastSpace
        let versionRange = (lastSpace + 1)..<line.upperBound
        for index in method where !HTTPSyntax.isTokenByte(bytes[index]) { throw .badRequest("invalid method") }
        guard !target.isEmpty else { throw .badRequest("invalid request target") }
        for index in target where !HTTPSyntax.isTargetByte(bytes[index]) { throw .badRequest("invalid request target") }
        // No form of request-target has a fragment (RFC 9112 §3.2).
        for index in target where bytes[index] == UInt8(ascii: "#") { throw .badRequest("fragment (#) in the request target") }
        let version = try HTTPVersion(parsing: UnsafeRawBufferPointer(rebasing: bytes[versionRange]))

        var head = HTTPRequestHeadRanges(method: method, originTarget: target, version: version)
        head.classifyMethod(bytes)
        if HTTPHeadBytes.equalsLowercase(bytes, method, "connect") {
            throw HTTPParseError(status: 501, reason: "CONNECT is not supported")
        }
        try head.readTarget(bytes, target)

        var hosts = 0
        var contentLength: Int?
        var contentLengthLines = 0
        var transferEncodingSeen = false
        var chunkedCount = 0
        var lastCodingIsChunked = false
        var codings = 0
        var connectionClose = false
        var connectionKeepAlive = false
        var maxForwardsLines = 0
        for field in scanner.fields {
            switch field.field {
            case .host:
                hosts += 1
                // RFC 9112 §3.2: 400 for an invalid Host, also when an
                // absolute-form target replaces it.
                guard HTTPAuthority.isValid(bytes, field.value) else { throw .badRequest("invalid Host header") }
            case .contentLength:
                contentLengthLines += 1
                // One line, one number: repeats (even equal) are refused (H4, H5).
                guard contentLengthLines == 1, let n = HTTPHeadBytes.decimal(bytes, field.value) else {
                    throw .badRequest(contentLengthLines > 1 ? "more than one Content-Length" : "invalid Content-Length")
                }
                contentLength = n
            case .transferEncoding:
                transferEncodingSeen = true
                HTTPHeadBytes.listElements(bytes, field.value) { element in
                    codings += 1
                    let chunked = HTTPHeadBytes.equalsLowercase(bytes, element, "chunked")
                    if chunked { chunkedCount += 1 }
                    lastCodingIsChunked = chunked
                }
            case .connection:
                HTTPHeadBytes.listElements(bytes, field.value) { token in
                    if HTTPHeadBytes.equalsLowercase(bytes, token, "close") {
                        connectionClose = true
                    } else if HTTPHeadBytes.equalsLowercase(bytes, token, "keep-alive") {
                        connectionKeepAlive = true
                    } else if !HTTPKnownField.classify(bytes, token).isNeverNominated {
                        head.nominated.append(token)
                    }
                }
            case .expect:
                if HTTPHeadBytes.equalsLowercase(bytes, field.value, "100-continue") {
                    head.expectsContinue = true
                } else {
                    throw HTTPParseError(status: 417, reason: "unsupported expectation")
                }
            case .xRequestID:
                if head.requestID == nil && !field.value.isEmpty && field.value.count <= 200 { head.requestID = field.value }
            case .xForwardedFor:
                if !field.value.isEmpty { head.forwardedFor.append(field.value) }
            case .maxForwards where head.honorsMaxForwards:
                // It must be read to be decremented: one line, 1*DIGIT.
                maxForwardsLines += 1
                guard maxForwardsLines == 1, !field.value.isEmpty,
                      field.value.allSatisfy({ bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }) else {
                    throw .badRequest(maxForwardsLines > 1 ? "more than one Max-Forwards" : "invalid Max-Forwards")
                }
                head.maxForwards = HTTPHeadBytes.decimal(bytes, field.value).map { min($0, Self.maxForwardsCeiling) }
                    ?? Self.maxForwardsCeiling
            default:
                break
            }
        }
        if hosts > 1 { throw .badRequest("more than one Host header") }
        head.hasHost = hosts == 1
        if hosts == 0 && version == .http11 { throw .badRequest("missing Host header") }
        if transferEncodingSeen {
            if version == .http10 { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
            if contentLength != nil { throw .badRequest("both Content-Length and Transfer-Encoding") }
            if !lastCodingIsChunked || chunkedCount != 1 { throw .badRequest("chunked is not the final transfer coding exactly once") }
            if codings != 1 { throw HTTPParseError(status: 501, reason: "transfer coding not implemented") }
            head.framing = .chunked
        } else if let contentLength {
            guard contentLength <= maxBody else { throw HTTPParseError(status: 413, reason: "request body too large") }
            head.framing = contentLength == 0 ? .none : .length(contentLength)
        }
        head.keepAlive = !connectionClose && (version == .http11 || connectionKeepAlive)
        return head
    }

    private init(method: Range<Int>, originTarget: Range<Int>, version: HTTPVersion) {
        self.method = method
        self.originTarget = originTarget
        self.version = version
    }

    private mutating func classifyMethod(_ bytes: UnsafeRawBufferPointer) {
        // Methods are case-sensitive (RFC 9110 §9.1).
        func equals(_ name: StaticString) -> Bool {
            guard method.count == name.utf8CodeUnitCount else { return false }
            let pointer = name.utf8Start
            for (offset, index) in method.enumerated() where bytes[index] != pointer[offset] { return false }
            return true
        }
        isHead = equals("HEAD")
        isTrace = equals("TRACE")
        honorsMaxForwards = isTrace || equals("OPTIONS")
        isIdempotent = isHead || honorsMaxForwards || equals("GET") || equals("PUT") || equals("DELETE")
    }

    /// origin-form passes as is; absolute-form loses scheme and authority;
    /// authority-form (CONNECT) was refused already.
    private mutating func readTarget(_ bytes: UnsafeRawBufferPointer, _ target: Range<Int>) throws(HTTPParseError) {
        let first = bytes[target.lowerBound]
        if first == UInt8(ascii: "/") { return }
        if first == UInt8(ascii: "*") && target.count == 1 {
            // asterisk-form is for OPTIONS only (RFC 9112 §3.2.4).
            guard method.count == 7, HTTPHeadBytes.equalsLowercase(bytes, method, "options") else {
                throw .badRequest("the * target is only for OPTIONS")
            }
            return
        }
        // scheme "://" authority [path-abempty] [ "?" query ]
        var index = target.lowerBound
        while index < target.upperBound, bytes[index] != UInt8(ascii: ":") { index += 1 }
        let scheme = target.lowerBound..<index
        guard HTTPHeadBytes.equalsLowercase(bytes, scheme, "http") || HTTPHeadBytes.equalsLowercase(bytes, scheme, "https"),
              index + 3 <= target.upperBound, bytes[index + 1] == UInt8(ascii: "/"), bytes[index + 2] == UInt8(ascii: "/") else {
            throw .badRequest("request target is neither origin-form nor absolute-form")
        }
        let authorityStart = index + 3
        var authorityEnd = authorityStart
        while authorityEnd < target.upperBound, bytes[authorityEnd] != UInt8(ascii: "/"), bytes[authorityEnd] != UInt8(ascii: "?") {
            authorityEnd += 1
        }
        guard authorityEnd > authorityStart else { throw .badRequest("absolute-form target without a host") }
        let found = authorityStart..<authorityEnd
        // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error to treat as such.
        if found.contains(where: { bytes[$0] == UInt8(ascii: "@") }) {
            throw .badRequest("userinfo (user@) in the request target")
        }
        guard HTTPAuthority.isValid(bytes, found) else { throw .badRequest("invalid authority in the request target") }
        authority = found
        originTarget = authorityEnd..<target.upperBound
    }
}
