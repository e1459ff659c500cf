import Testing
@testable import Admin
@testable import CLI
@testable import Config
@testable import Control
@testable import HTTP
@testable import HTTPServing
@testable import JSON
@testable import Logs
@testable import Proxy
@testable import Runtime
@testable import Supervision
@testable import System

/// The Date line the proxy puts on every answer: reformatted at most once
/// a second of the loop's clock into one buffer, and right after the status
/// line of drover's own answers.
@Suite struct ProxyUnitDateFieldTests {
    @Test func formattedAtMostOnceASecondOfTheLoopsClock() {
        var wall: Int64 = 784_111_777 * 1_000_000_000 + 600_000_000   // 08:49:37.6
        let field = ProxyDateField(wallClock: { wall })
        let start = Instant(nanoseconds: 5_000_000_000)
        let first = field.line(at: start)
        #expect(String(decoding: first, as: UTF8.self) == "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n")
        // 1000 answers within the same second: no formatting.
        wall += 300_000_000
        for step in 0..<1000 {
            _ = field.line(at: Instant(nanoseconds: start.nanoseconds + UInt64(step) * 300_000))
        }
        #expect(field.formatCount == 1)
        // The second ends 0.4 s after the first read: the next one shows the new second.
        wall += 100_000_000
        let next = field.line(at: Instant(nanoseconds: start.nanoseconds + 400_000_000))
        #expect(String(decoding: next, as: UTF8.self) == "Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n")
        #expect(field.formatCount == 2)
        #expect(field.bytes.count == 37)
    }

    @Test func droversOwnAnswersCarryTheDateAfterTheStatusLine() {
        let date = Array("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n".utf8)
        let bytes = ProxyErrorResponse.bytes(status: 503, reason: "no worker", date: date, close: false, retryAfter: 2,
                                             requestID: "r1")
        let body = "{\"error\":\"no worker\",\"code\":\"unavailable\"}\n"
        #expect(String(decoding: bytes, as: UTF8.self)
            == "HTTP/1.1 503 Service Unavailable\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\nRetry-After: 2\r\nX-Request-Id: r1\r\n\r\n" + body)
    }
}
