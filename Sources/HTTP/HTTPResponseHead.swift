/// A parsed status line and header block of a worker's (or the daemon's)
/// response, with framing decided for the request it answers.
package struct HTTPResponseHead: Sendable, Equatable {
    package var version: HTTPVersion
    package var status: Int
    package var reason: String
    package var headers: HTTPHeaders
    /// `.none` for 1xx, 204, 304 and answers to HEAD, whatever the headers
    /// say; `.untilClose` when neither Content-Length nor chunked is given.
    package var framing: HTTPBodyFraming
    /// Whether the connection can carry another exchange after this body.
    package var keepAlive: Bool

    package init(
        version: HTTPVersion = .http11, status: Int, reason: String = "", headers: HTTPHeaders = [:],
        framing: HTTPBodyFraming = .none, keepAlive: Bool = true
    ) {
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.framing = framing
        self.keepAlive = keepAlive
    }
}
