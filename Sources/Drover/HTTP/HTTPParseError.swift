/// Why a message was rejected, with the status a server should answer
/// before it closes the connection (the parser stays failed afterwards:
/// once framing is in doubt nothing later on the connection can be trusted).
/// The response parser reports 502 for every problem: from a proxy's point
/// of view a malformed worker response is an invalid upstream answer.
public struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: Int
    public var reason: String

    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status) \(reason)" }

    static func badRequest(_ reason: String) -> HTTPParseError { HTTPParseError(status: 400, reason: reason) }
}
