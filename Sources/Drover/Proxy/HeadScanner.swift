import Glibc

/// Header fields the proxy acts on, recognised once per line so forwarding
/// decisions compare a byte, not a string.
enum KnownField: UInt8 {
    case other, host, contentLength, transferEncoding, connection, keepAlive, te, trailer
    case proxyConnection, upgrade, expect, xForwardedFor, xRealIP, xForwardedProto, xRequestID

    /// Hop-by-hop (RFC 9110 §7.6.1 and the fields it says to remove).
    var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .te, .trailer, .proxyConnection, .upgrade, .transferEncoding: return true
        default: return false
        }
    }

    private static let table: [(name: String, field: KnownField)] = [
        ("host", .host), ("content-length", .contentLength), ("transfer-encoding", .transferEncoding),
        ("connection", .connection), ("keep-alive", .keepAlive), ("te", .te), ("trailer", .trailer),
        ("proxy-connection", .proxyConnection), ("upgrade", .upgrade), ("expect", .expect),
        ("x-forwarded-for", .xForwardedFor), ("x-real-ip", .xRealIP), ("x-forwarded-proto", .xForwardedProto),
        ("x-request-id", .xRequestID),
    ]

    static func classify(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> KnownField {
        let length = range.count
        guard length >= 2, length <= 17 else { return .other }
        for (name, field) in table where name.utf8.count == length {
            if BytesText.equalsLowercase(bytes, range, name) { return field }
        }
        return .other
    }
}

/// One field line as offsets into the head: the line (without CRLF), the
/// name, the value with surrounding whitespace trimmed.
struct FieldRange {
    var line: Range<Int>
    var name: Range<Int>
    var value: Range<Int>
    var field: KnownField
}

/// Byte helpers over a head in place, no String per field.
enum BytesText {
    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lower: String) -> Bool {
        var index = range.lowerBound
        for expected in lower.utf8 {
            guard index < range.upperBound else { return false }
            if HTTPSyntax.lowercased(bytes[index]) != expected { return false }
            index += 1
        }
        return index == range.upperBound
    }

    /// The comma-separated elements of a value, trimmed, empties dropped.
    static func listElements(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        var start = range.lowerBound
        var index = range.lowerBound
        while index <= range.upperBound {
            if index == range.upperBound || bytes[index] == HTTPSyntax.comma {
                var a = start, b = index
                while a < b, HTTPSyntax.isWhitespace(bytes[a]) { a += 1 }
                while b > a, HTTPSyntax.isWhitespace(bytes[b - 1]) { b -= 1 }
                if a < b { body(a..<b) }
                start = index + 1
            }
            index += 1
        }
    }

    static func string(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// 1*DIGIT, no sign, overflow-checked.
    static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var value = 0
        for index in range {
            let b = bytes[index]
            guard b >= 0x30, b <= 0x39 else { return nil }
            value = value * 10 + Int(b - 0x30)
        }
        return value
    }
}

/// Finds and splits an HTTP/1.1 message head in a buffer without copying:
/// the start line and every field line as offsets. Strict (RFC 9112): lines
/// end in CRLF, no obs-fold, no whitespace before a colon, no control
/// bytes in values. The end of the head is searched incrementally, so a
/// client sending a byte at a time costs linear work.
struct HeadScanner {
    struct Limits {
        var maxHeadBytes: Int
        var maxStartLineBytes: Int
        var maxFields: Int
        /// Status for a head over maxHeadBytes (431 for requests, 502 for responses).
        var tooLargeStatus: Int
    }

    enum Outcome {
        case incomplete
        /// The head is `0..<length`; `startLine` and `fields` are filled in.
        case complete(length: Int)
    }

    let limits: Limits
    /// Where the search for the blank line resumes.
    private var searchedUpTo = 0
    private var startLineSearchedTo = 0
    private var startLineFound: Int?
    private(set) var startLine: Range<Int> = 0..<0
    var fields: [FieldRange] = []

    init(limits: Limits) {
        self.limits = limits
        fields.reserveCapacity(16)
    }

    mutating func reset() {
        searchedUpTo = 0
        startLineSearchedTo = 0
        startLineFound = nil
        startLine = 0..<0
        fields.removeAll(keepingCapacity: true)
    }

    /// Whether nothing of a message has been seen yet (stray CRLFs aside).
    var isAtStart: Bool { searchedUpTo == 0 }

    mutating func scan(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> Outcome {
        // Empty lines before a request line are ignored (RFC 9112 §2.2).
        var first = 0
        while first + 1 < bytes.count, bytes[first] == HTTPSyntax.cr, bytes[first + 1] == HTTPSyntax.lf { first += 2 }
        if first > 1024 { throw HTTPParseError(status: 400, reason: "too many empty lines before the request") }
        var index = max(searchedUpTo, first)
        var end = -1
        while index < bytes.count {
            let b = bytes[index]
            if b == HTTPSyntax.lf {
                if index == 0 || bytes[index - 1] != HTTPSyntax.cr {
                    throw HTTPParseError(status: 400, reason: "line ending without CR (bare LF)")
                }
                if index >= first + 3, bytes[index - 2] == HTTPSyntax.lf, bytes[index - 3] == HTTPSyntax.cr {
                    end = index + 1
                    break
                }
            }
            index += 1
        }
        if end < 0 {
            searchedUpTo = max(first, bytes.count - 3)
            if startLineLength(bytes, from: first) > limits.maxStartLineBytes { throw startLineTooLong }
            if bytes.count - first > limits.maxHeadBytes {
                throw HTTPParseError(status: limits.tooLargeStatus, reason: "header section too large")
            }
            return .incomplete
        }
        // A request line over its own limit is 414 even when the head is also too large.
        if startLineLength(bytes, from: first) > limits.maxStartLineBytes { throw startLineTooLong }
        if end - first > limits.maxHeadBytes {
            throw HTTPParseError(status: limits.tooLargeStatus, reason: "header section too large")
        }
        try split(bytes, from: first, to: end)
        return .complete(length: end)
    }

    /// The start line's length so far (up to its LF, or all that arrived),
    /// searched incrementally like the blank line.
    private mutating func startLineLength(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int {
        if let found = startLineFound { return found }
        var index = max(from, startLineSearchedTo)
        let limit = min(bytes.count, from + limits.maxStartLineBytes + 2)
        while index < limit {
            if bytes[index] == HTTPSyntax.lf {
                startLineFound = index - from - 1
                return index - from - 1
            }
            index += 1
        }
        startLineSearchedTo = index
        // A CR at the end is the line's ending arriving, not part of it.
        if index > from && bytes[index - 1] == HTTPSyntax.cr { return index - from - 1 }
        return index - from
    }

    private var startLineTooLong: HTTPParseError {
        HTTPParseError(status: limits.tooLargeStatus == 431 ? 414 : limits.tooLargeStatus,
                       reason: limits.tooLargeStatus == 431 ? "request line too long" : "status line too long")
    }

    private mutating func split(_ bytes: UnsafeRawBufferPointer, from first: Int, to end: Int) throws(HTTPParseError) {
        fields.removeAll(keepingCapacity: true)
        var lineStart = first
        var isStartLine = true
        while lineStart < end {
            var lf = lineStart
            while bytes[lf] != HTTPSyntax.lf { lf += 1 }
            let line = lineStart..<(lf - 1)
            lineStart = lf + 1
            if isStartLine {
                guard line.count <= limits.maxStartLineBytes else {
                    throw HTTPParseError(status: limits.tooLargeStatus == 431 ? 414 : limits.tooLargeStatus,
                                         reason: "request line too long")
                }
                startLine = line
                isStartLine = false
                continue
            }
            if line.isEmpty { break }
            guard fields.count < limits.maxFields else {
                throw HTTPParseError(status: limits.tooLargeStatus, reason: "too many header fields")
            }
            fields.append(try Self.field(bytes, line))
        }
    }

    private static func field(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>) throws(HTTPParseError) -> FieldRange {
        if HTTPSyntax.isWhitespace(bytes[line.lowerBound]) {
            throw .badRequest("obsolete line folding (field line starts with whitespace)")
        }
        var index = line.lowerBound
        while index < line.upperBound, HTTPSyntax.isTokenByte(bytes[index]) { index += 1 }
        guard index < line.upperBound else { throw .badRequest("field line without a colon") }
        switch bytes[index] {
        case HTTPSyntax.colon: break
        case HTTPSyntax.space, HTTPSyntax.tab: throw .badRequest("whitespace between field name and colon")
        default: throw .badRequest("invalid character in field name")
        }
        guard index > line.lowerBound else { throw .badRequest("empty field name") }
        let name = line.lowerBound..<index
        var valueStart = index + 1, valueEnd = line.upperBound
        while valueStart < valueEnd, HTTPSyntax.isWhitespace(bytes[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart, HTTPSyntax.isWhitespace(bytes[valueEnd - 1]) { valueEnd -= 1 }
        for i in valueStart..<valueEnd where !HTTPSyntax.isFieldValueByte(bytes[i]) {
            throw .badRequest("control character in field value")
        }
        return FieldRange(line: line, name: name, value: valueStart..<valueEnd, field: KnownField.classify(bytes, name))
    }
}
