import Glibc
import Testing
@testable import HTTP

/// IMF-fixdate bytes (RFC 9110 §5.6.7) from drover's own calendar
/// arithmetic, and the digits drover writes without a String.
@Suite struct HTTPDateTests {
    @Test(arguments: [
        (Int64(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT"),    // RFC 9110's example
        (Int64(0), "Thu, 01 Jan 1970 00:00:00 GMT"),
        (Int64(-1), "Wed, 31 Dec 1969 23:59:59 GMT"),
        (Int64(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT"),    // a leap day of a leap century
        (Int64(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT"),
        (Int64(1_740_787_200), "Sat, 01 Mar 2025 00:00:00 GMT"),
        (Int64(2_147_483_648), "Tue, 19 Jan 2038 03:14:08 GMT"),  // past 32-bit time_t
        (Int64(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT"),  // 2100 is not a leap year
        (Int64(253_402_300_799), "Fri, 31 Dec 9999 23:59:59 GMT"),
    ])
    func imfFixdate(seconds: Int64, expected: String) {
        #expect(HTTPDate.text(seconds: seconds) == expected)
    }

    /// Every day of 1970-2100 against the C library's gmtime_r.
    @Test func agreesWithGmtimeDayByDay() {
        for day in Int64(0)..<Int64(47_847) {
            let seconds = day * 86_400 + (day * 7919) % 86_400
            #expect(HTTPDate.text(seconds: seconds) == Self.gmtime(seconds), "day \(day)")
        }
    }

    static func gmtime(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test func appendDecimal() {
        for value in [0, 1, 9, 10, 99, 100, 4096, 999_999_999, 1_000_000_000, Int(Int32.max)] {
            var out: [UInt8] = [UInt8(ascii: "x")]
            HTTPHeadBytes.appendDecimal(value, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == "x\(value)")
        }
    }
}
