/// A parsed status line and header block of a worker's (or the daemon's)
/// response, with framing decided for the request it answers.
public struct HTTPResponseHead: Sendable, Equatable {
    public var version: HTTPVersion
    public var status: Int
    public var reason: String
    public var headers: HTTPHeaders
    /// `.none` for 1xx, 204, 304 and answers to HEAD, whatever the headers
    /// say; `.untilClose` when neither Content-Length nor chunked is given.
    public var framing: HTTPBodyFraming
    /// Whether the connection can carry another exchange after this body.
    public var keepAlive: Bool

    public init(
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
