/// Why a message was rejected, with the status a server should answer
/// before it closes the connection (the parser stays failed afterwards:
/// once framing is in doubt nothing later on the connection can be trusted).
/// The response parser reports 502 for every problem: from a proxy's point
/// of view a malformed worker response is an invalid upstream answer.
package struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    package var status: Int
    package var reason: String

    package init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    package var description: String { "\(status) \(reason)" }

    static func badRequest(_ reason: String) -> HTTPParseError { HTTPParseError(status: 400, reason: reason) }
}
