import Glibc

/// The `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n` line of every response
/// drover writes or forwards without one (RFC 9110 §6.6.1), kept in one
/// reusable buffer and reformatted in place at most once a second, when the
/// loop's clock passes the end of the second it shows. Appending it costs a
/// copy of 37 bytes: no String, no Foundation, no formatting per request.
final class HTTPDateField {
    /// The field line with its CRLF.
    private(set) var bytes: [UInt8] = Array("Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n".utf8)
    /// On the loop's (monotonic) clock: when the second shown ends.
    private var validUntil: Instant?
    private let wallClock: () -> Int64
    /// How many times the line was formatted (tests: at most once a second).
    private(set) var formatCount = 0

    /// `wallClock`: nanoseconds since the epoch (tests pass a fixed one).
    init(wallClock: @escaping () -> Int64 = { WallClock.nowNanoseconds() }) {
        self.wallClock = wallClock
    }

    /// The line for the instant `now` of the loop's clock.
    func line(at now: Instant) -> [UInt8] {
        if let validUntil, now < validUntil { return bytes }
        let wall = wallClock()
        let (seconds, fraction) = wall.quotientAndRemainder(dividingBy: 1_000_000_000)
        // A wall clock stepped backwards or forwards shows within a second:
        // the next refresh reads it again.
        validUntil = now + .nanoseconds(1_000_000_000 - max(0, fraction))
        bytes.withUnsafeMutableBufferPointer { buffer in
            Self.format(seconds: seconds, into: UnsafeMutableBufferPointer(rebasing: buffer[6..<35]))
        }
        formatCount += 1
        return bytes
    }

    private static let days: [UInt8] = Array("SunMonTueWedThuFriSat".utf8)
    private static let months: [UInt8] = Array("JanFebMarAprMayJunJulAugSepOctNovDec".utf8)

    /// The 29 bytes of an IMF-fixdate (RFC 9110 §5.6.7) for `seconds` since
    /// the epoch, written into `out`.
    static func format(seconds: Int64, into out: UnsafeMutableBufferPointer<UInt8>) {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32, at offset: Int) {
            out[offset] = 0x30 + UInt8(value / 10 % 10)
            out[offset + 1] = 0x30 + UInt8(value % 10)
        }
        let day = Int(parts.tm_wday) * 3, month = Int(parts.tm_mon) * 3
        out[0] = days[day]; out[1] = days[day + 1]; out[2] = days[day + 2]
        out[3] = HTTPSyntax.comma; out[4] = HTTPSyntax.space
        two(parts.tm_mday, at: 5)
        out[7] = HTTPSyntax.space
        out[8] = months[month]; out[9] = months[month + 1]; out[10] = months[month + 2]
        out[11] = HTTPSyntax.space
        let year = parts.tm_year + 1900
        two(year / 100, at: 12)
        two(year % 100, at: 14)
        out[16] = HTTPSyntax.space
        two(parts.tm_hour, at: 17)
        out[19] = HTTPSyntax.colon
        two(parts.tm_min, at: 20)
        out[22] = HTTPSyntax.colon
        two(parts.tm_sec, at: 23)
        out[25] = HTTPSyntax.space
        out[26] = UInt8(ascii: "G"); out[27] = UInt8(ascii: "M"); out[28] = UInt8(ascii: "T")
    }

    /// The IMF-fixdate of `seconds` as text (tests, logs).
    static func text(seconds: Int64) -> String {
        var bytes = [UInt8](repeating: 0, count: 29)
        bytes.withUnsafeMutableBufferPointer { format(seconds: seconds, into: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
