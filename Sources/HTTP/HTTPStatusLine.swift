/// `HTTP-version SP 3DIGIT [SP reason-phrase]` (RFC 9112 §4), read in place
/// from the start line `HTTPHeadScanner` found: the one status-line rule of
/// every response drover reads, the proxy's from its workers and
/// `HTTPResponseParser`'s (the CLI, the tests). A missing `SP reason` is
/// tolerated: some servers send `HTTP/1.1 200` and nothing is ambiguous.
package struct HTTPStatusLine: Equatable {
    package var version: HTTPVersion
    package var status: Int
    /// `SSS reason` after the version: what a proxy re-sends behind its own.
    package var statusAndReason: Range<Int>
    /// The reason phrase (possibly empty).
    package var reason: Range<Int>

    package var isInterim: Bool { status < 200 }

    /// The version is exactly `HTTP/1.1` or `HTTP/1.0` (case-sensitive, RFC
    /// 9112 §2.3); the status is three digits in 100…599 (RFC 9110 §15:
    /// outside that range a code is invalid); the reason is field-value bytes.
    package static func parse(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>) throws(HTTPParseError) -> HTTPStatusLine {
        let start = line.lowerBound
        guard line.count >= 12, bytes[start + 8] == HTTPSyntax.space else { throw .badRequest("malformed status line") }
        let version: HTTPVersion
        do throws(HTTPParseError) {
            version = try HTTPVersion(parsing: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + 8)]))
        } catch {
            throw .badRequest(error.status == 505 ? "unsupported response version" : "malformed HTTP version")
        }
        var status = 0
        for index in (start + 9)..<(start + 12) {
            let b = bytes[index]
            guard b >= 0x30, b <= 0x39 else { throw .badRequest("malformed status code") }
            status = status * 10 + Int(b - 0x30)
        }
        guard (100...599).contains(status) else { throw .badRequest("status code out of range") }
        var reason = line.upperBound..<line.upperBound
        if line.count > 12 {
            guard bytes[start + 12] == HTTPSyntax.space else { throw .badRequest("malformed status line") }
            reason = (start + 13)..<line.upperBound
            for index in reason where !HTTPSyntax.isFieldValueByte(bytes[index]) {
                throw .badRequest("control character in the reason phrase")
            }
        }
        return HTTPStatusLine(version: version, status: status, statusAndReason: (start + 9)..<line.upperBound, reason: reason)
    }
}
