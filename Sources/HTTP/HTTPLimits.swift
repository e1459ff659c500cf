/// Bounds on what a peer may make the parser buffer; each maps to the status
/// RFC 9110 / RFC 6585 name for it, so a client learns which one it hit.
package struct HTTPLimits: Sendable, Hashable {
    /// Request line (or status line) plus header lines, CRLFs included,
    /// up to and including the empty line that ends the head. Above: 431.
    /// Empty lines before a request line are not counted; over 1024 bytes
    /// of them is 400 (HTTPHeadScanner).
    /// Trailers of a chunked body have the same bound of their own.
    package var maxHeaderBytes: Int
    /// Declared Content-Length, or the sum of chunk sizes, above: 413.
    /// Only requests are bounded; responses stream through.
    package var maxBodyBytes: Int
    /// Header lines (not counting the request line) above: 431.
    package var maxHeaderCount: Int
    /// The request line without its CRLF, above: 414. RFC 9112 §3 asks
    /// for at least 8000 octets.
    package var maxRequestLineBytes: Int

    package init(
        maxHeaderBytes: Int = 16 * 1024,
        maxBodyBytes: Int = 10 * 1024 * 1024,
        maxHeaderCount: Int = 100,
        maxRequestLineBytes: Int = 8 * 1024
    ) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxRequestLineBytes = maxRequestLineBytes
    }
}
