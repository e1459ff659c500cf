/// How the end of a message body is found (RFC 9112 §6.3).
package enum HTTPBodyFraming: Sendable, Hashable {
    /// No body follows the head.
    case none
    /// Exactly this many bytes follow (Content-Length).
    case length(Int)
    /// Transfer-Encoding: chunked.
    case chunked
    /// A response without Content-Length or Transfer-Encoding: the body is
    /// everything until the server closes the connection. Never a request.
    case untilClose
}
