/// What the response parser found, in stream order. After `.error` nothing
/// more comes: the upstream connection must not be reused.
package enum HTTPResponseEvent: Sendable, Equatable {
    /// A 1xx interim response (100 Continue, 103 Early Hints); the final
    /// response follows. Never followed by body or end.
    case informational(HTTPResponseHead)
    case head(HTTPResponseHead)
    case body([UInt8])
    case end
    case error(HTTPParseError)
}
