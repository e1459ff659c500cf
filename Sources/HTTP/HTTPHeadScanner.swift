import Glibc

/// Finds and splits an HTTP/1.1 message head in a buffer without copying:
/// the start line and every field line as offsets. One scanner serves every
/// listener (the proxy on its input buffer, `HTTPRequestParser` on the head
/// it collects) and the proxy's worker responses, so what one accepts the
/// others accept. Strict (RFC 9112): lines end in CRLF, no obs-fold, no
/// whitespace before a colon, no control bytes in values.
///
/// The caller passes the same buffer again, grown, after each read; the
/// search resumes where it stopped, so a client sending a byte at a time
/// costs linear work. Each limit fails at the byte that proves it is
/// exceeded, in input order, so the answer does not depend on how the input
/// was split into reads.
package struct HTTPHeadScanner {
    package struct Limits {
        var maxHeadBytes: Int
        var maxStartLineBytes: Int
        var maxFields: Int
        /// Status for a head over maxHeadBytes (431 for requests, 502 for responses).
        var tooLargeStatus: Int

        package init(maxHeadBytes: Int, maxStartLineBytes: Int, maxFields: Int, tooLargeStatus: Int) {
            self.maxHeadBytes = maxHeadBytes
            self.maxStartLineBytes = maxStartLineBytes
            self.maxFields = maxFields
            self.tooLargeStatus = tooLargeStatus
        }

        /// The request limits of `HTTPLimits` (control and admin listeners).
        static func request(_ limits: HTTPLimits) -> Limits {
            Limits(maxHeadBytes: limits.maxHeaderBytes, maxStartLineBytes: limits.maxRequestLineBytes,
                   maxFields: limits.maxHeaderCount, tooLargeStatus: 431)
        }
    }

    package enum Outcome {
        case incomplete
        /// The head is `0..<length`; `startLine` and `fields` are filled in.
        case complete(length: Int)
    }

    /// RFC 9112 §2.2 asks servers to skip at least one empty line before a
    /// request line; more than this many bytes of them is not a client's
    /// stray CRLF but a peer keeping the connection busy.
    static let maxLeadingEmptyLineBytes = 1024

    let limits: Limits
    /// Where the search resumes on the next call.
    private var searchedUpTo = 0
    /// The LF that ends the start line, once seen.
    private var startLineEnd: Int?
    package private(set) var startLine: Range<Int> = 0..<0
    package var fields: [HTTPFieldRange] = []

    package init(limits: Limits) {
        self.limits = limits
        fields.reserveCapacity(16)
    }

    package mutating func reset() {
        searchedUpTo = 0
        startLineEnd = nil
        startLine = 0..<0
        // (Emptying an empty array still costs a generic call.)
        if !fields.isEmpty { fields.removeAll(keepingCapacity: true) }
    }

    /// Whether nothing has been scanned since the last reset.
    var isAtStart: Bool { searchedUpTo == 0 }

    package mutating func scan(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> Outcome {
        // Empty lines before a request line are ignored (RFC 9112 §2.2).
        var first = 0
        while first + 1 < bytes.count, bytes[first] == HTTPSyntax.cr, bytes[first + 1] == HTTPSyntax.lf { first += 2 }
        if first > Self.maxLeadingEmptyLineBytes {
            throw HTTPParseError(status: 400, reason: "too many empty lines before the request")
        }
        // The first index past the head's limit, and the index by which the
        // start line's LF must have come (its content is then at most
        // maxStartLineBytes: the byte before the LF is the CR).
        let headLimit = first + limits.maxHeadBytes
        let lineLimit = first + limits.maxStartLineBytes + 1
        var index = max(searchedUpTo, first)

        if startLineEnd == nil {
            // The first byte that fails a limit unless it is the LF: the
            // LF is looked for up to and including it (memchr, not a loop
            // per byte), with the same outcome as reading byte by byte.
            let firstOver = min(lineLimit, headLimit)
            let searchEnd = min(bytes.count, firstOver + 1)
            if index < searchEnd, let lf = Self.firstLF(bytes, from: index, to: searchEnd) {
                // At one byte, a limit is reported before a bare LF.
                if lf >= headLimit { throw headTooLarge }
                guard lf > first, bytes[lf - 1] == HTTPSyntax.cr else { throw bareLF }
                startLineEnd = lf
                startLine = first..<(lf - 1)
                index = lf + 1
            } else if bytes.count > firstOver {
                // A request line over its own limit is 414 even when the
                // head limit is crossed at the same byte.
                throw firstOver >= lineLimit ? startLineTooLong : headTooLarge
            } else {
                index = bytes.count
            }
        }
        if startLineEnd != nil {
            let stop = min(bytes.count, headLimit)
            while index < stop {
                guard let lf = Self.firstLF(bytes, from: index, to: stop) else {
                    index = stop
                    break
                }
                guard bytes[lf - 1] == HTTPSyntax.cr else { throw bareLF }
                // Every LF so far had its CR, so LF CR LF is the blank line.
                if bytes[lf - 2] == HTTPSyntax.lf {
                    try split(bytes, from: startLineEnd! + 1, to: lf + 1)
                    searchedUpTo = lf + 1
                    return .complete(length: lf + 1)
                }
                index = lf + 1
            }
            if index < bytes.count { throw headTooLarge }
        }
        searchedUpTo = index
        return .incomplete
    }

    /// The index of the first LF in `bytes[start..<end]` (glibc's memchr
    /// reads a vector at a time).
    @inline(__always)
    private static func firstLF(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        guard start < end, let base = bytes.baseAddress,
              let found = memchr(base + start, Int32(HTTPSyntax.lf), end - start) else { return nil }
        return UnsafeRawPointer(found) - base
    }

    private var bareLF: HTTPParseError { .badRequest("line ending without CR (bare LF)") }

    private var headTooLarge: HTTPParseError {
        HTTPParseError(status: limits.tooLargeStatus, reason: "header section too large")
    }

    private var startLineTooLong: HTTPParseError {
        HTTPParseError(status: limits.tooLargeStatus == 431 ? 414 : limits.tooLargeStatus,
                       reason: limits.tooLargeStatus == 431 ? "request line too long" : "status line too long")
    }

    /// The field lines between the start line and the blank line ending at `end`.
    private mutating func split(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) throws(HTTPParseError) {
        if !fields.isEmpty { fields.removeAll(keepingCapacity: true) }
        var lineStart = start
        while lineStart < end {
            // The blank line's LF ends the range, so every line has one.
            guard let lf = Self.firstLF(bytes, from: lineStart, to: end) else { break }
            let line = lineStart..<(lf - 1)
            lineStart = lf + 1
            if line.isEmpty { break }
            guard fields.count < limits.maxFields else {
                throw HTTPParseError(status: limits.tooLargeStatus, reason: "too many header fields")
            }
            fields.append(try Self.field(bytes, line))
        }
    }

    private static func field(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>) throws(HTTPParseError) -> HTTPFieldRange {
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
        guard HTTPSyntax.allFieldValueBytes(bytes, valueStart..<valueEnd) else {
            throw .badRequest("control character in field value")
        }
        return HTTPFieldRange(line: line, name: name, value: valueStart..<valueEnd, field: HTTPKnownField.classify(bytes, name))
    }
}
