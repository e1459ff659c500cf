import HTTP
import System

/// The `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n` line of every response
/// the proxy writes or forwards without one (RFC 9110 §6.6.1), kept in one
/// reusable buffer and reformatted in place at most once a second, when the
/// loop's clock passes the end of the second it shows. Appending it costs a
/// copy of 37 bytes: no String, no Foundation, no formatting per request.
final class ProxyDateField {
    /// The field line with its CRLF.
    private(set) var bytes: [UInt8] = Array("Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n".utf8)
    /// On the loop's (monotonic) clock: when the second shown ends.
    private var validUntil: Instant?
    private let wallClock: () -> Int64
    /// How many times the line was formatted (tests: at most once a second).
    private(set) var formatCount = 0

    /// `wallClock`: nanoseconds since the epoch (tests pass their own).
    init(wallClock: @escaping () -> Int64 = { WallClock.nowNanoseconds() }) {
        self.wallClock = wallClock
    }

    /// The line for the instant `now` of the loop's clock.
    func line(at now: Instant) -> [UInt8] {
        if let validUntil, now < validUntil { return bytes }
        let wall = wallClock()
        var (seconds, fraction) = wall.quotientAndRemainder(dividingBy: 1_000_000_000)
        if fraction < 0 { seconds -= 1; fraction += 1_000_000_000 }
        // A wall clock stepped backwards or forwards shows within a second:
        // the next refresh reads it again.
        validUntil = Instant(nanoseconds: now.nanoseconds &+ UInt64(1_000_000_000 - fraction))
        bytes.withUnsafeMutableBufferPointer { buffer in
            HTTPDate.format(seconds: seconds, into: UnsafeMutableBufferPointer(rebasing: buffer[6..<(6 + HTTPDate.length)]))
        }
        formatCount += 1
        return bytes
    }
}
