/// What the request parser found, in stream order. After `.error` nothing
/// more comes: the caller answers `error.status` and closes.
package enum HTTPRequestEvent: Sendable, Equatable {
    case head(HTTPRequestHead)
    /// Payload bytes (de-chunked). One body may arrive in any number of pieces.
    case body([UInt8])
    case end
    case error(HTTPParseError)
}
