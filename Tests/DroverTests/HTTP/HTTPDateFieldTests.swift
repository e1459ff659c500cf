import Testing
@testable import Drover

/// The Date line drover puts on every answer: IMF-fixdate bytes (RFC 9110
/// §5.6.7) from its own formatter, reformatted at most once a second of the
/// loop's clock into one buffer, and placed right after the status line of
/// drover's own answers.
@Suite struct HTTPDateFieldTests {
    @Test(arguments: [
        (Int64(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT"),    // RFC 9110's example
        (Int64(0), "Thu, 01 Jan 1970 00:00:00 GMT"),
        (Int64(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT"),    // a leap day
        (Int64(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT"),
        (Int64(2_147_483_648), "Tue, 19 Jan 2038 03:14:08 GMT"),  // past 32-bit time_t
        (Int64(4_102_444_800), "Fri, 01 Jan 2100 00:00:00 GMT"),
    ])
    func imfFixdate(seconds: Int64, expected: String) {
        #expect(HTTPDateField.text(seconds: seconds) == expected)
    }

    @Test func formattedAtMostOnceASecondOfTheLoopsClock() {
        var wall: Int64 = 784_111_777 * 1_000_000_000 + 600_000_000   // 08:49:37.6
        let field = HTTPDateField(wallClock: { wall })
        let start = Instant(nanoseconds: 5_000_000_000)
        let first = field.line(at: start)
        #expect(String(decoding: first, as: UTF8.self) == "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n")
        // 1000 answers within the same second: no formatting.
        wall += 300_000_000
        for step in 0..<1000 {
            _ = field.line(at: start + .nanoseconds(Int64(step) * 300_000))
        }
        #expect(field.formatCount == 1)
        // The second ends 0.4 s after the first read: the next one shows the new second.
        wall += 100_000_000
        let next = field.line(at: start + .milliseconds(400))
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

    @Test func appendDecimal() {
        for value in [0, 1, 9, 10, 99, 100, 4096, 999_999_999, 1_000_000_000, Int(Int32.max)] {
            var out: [UInt8] = [UInt8(ascii: "x")]
            HTTPHeadBytes.appendDecimal(value, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == "x\(value)")
        }
    }
}
