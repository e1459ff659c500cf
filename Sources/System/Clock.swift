import CSystem
import Glibc

/// Monotonic time in nanoseconds: the only clock timers and uptimes use.
package struct Instant: Comparable, Hashable, Sendable {
    package let nanoseconds: UInt64

    package init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    package static var now: Instant { Instant(nanoseconds: cs_monotonic_ns()) }

    package static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }

    package func adding(seconds: Double) -> Instant {
        let delta = seconds <= 0 ? 0 : UInt64(seconds * 1e9)
        return Instant(nanoseconds: nanoseconds &+ delta)
    }

    /// Seconds from `earlier` to self (0 if earlier is later).
    package func seconds(since earlier: Instant) -> Double {
        nanoseconds > earlier.nanoseconds ? Double(nanoseconds - earlier.nanoseconds) / 1e9 : 0
    }
}

/// Wall-clock formatting without Foundation (it costs megabytes of RSS).
package enum WallClock {
    package static func nowNanoseconds() -> Int64 { cs_realtime_ns() }

    /// `2026-11-23T09:00:00.123Z`
    package static func timestamp(_ ns: Int64 = cs_realtime_ns()) -> String {
        var seconds = time_t(ns / 1_000_000_000)
        let millis = Int((ns / 1_000_000) % 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T"
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(pad(millis, 3))Z"
    }

    /// `12:03:11` in local time, as supervisorctl shows exit times.
    package static func timeOfDay(_ ns: Int64) -> String {
        var seconds = time_t(ns / 1_000_000_000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        return "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec))"
    }

    /// `Dec 07 07:25 PM` in local time: how supervisorctl dates a stop or an
    /// exit in `status` (its `%b %d %I:%M %p`, in the C locale whatever the
    /// environment says, so scripts parse one form).
    package static func statusDate(_ ns: Int64) -> String {
        var seconds = time_t(ns / 1_000_000_000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let month = months[Int(max(0, min(11, parts.tm_mon)))]
        let hour12 = parts.tm_hour % 12 == 0 ? 12 : parts.tm_hour % 12
        return "\(month) \(pad(parts.tm_mday)) \(pad(hour12)):\(pad(parts.tm_min)) \(parts.tm_hour < 12 ? "AM" : "PM")"
    }

    package static func pad<T: BinaryInteger>(_ value: T, _ width: Int = 2) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at 0 for negative spans and at ~292 years.
    var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds < 0) { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return UInt64(Int64.max) }
        return whole &+ UInt64(attoseconds / 1_000_000_000)
    }

    /// From the config's seconds (non-finite or negative: zero).
    package static func seconds(checked value: Double) -> Duration {
        guard value.isFinite, value > 0 else { return .zero }
        return .nanoseconds(Int64(min(value, 1e9) * 1e9))
    }

    package var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// A span of time fixed once (a configured timeout) and kept in whole
/// nanoseconds: adding it to an instant is one addition, where a Duration
/// goes through 128-bit attoseconds every time (deadlines are set several
/// times per proxied request).
package struct Timeout: Sendable, Equatable {
    package let nanoseconds: UInt64

    package init(_ duration: Duration) { nanoseconds = duration.clampedNanoseconds }

    package var duration: Duration { .nanoseconds(Int64(min(nanoseconds, UInt64(Int64.max)))) }
}

extension Instant {
    package static func + (lhs: Instant, rhs: Timeout) -> Instant {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanoseconds)
        return Instant(nanoseconds: overflow ? UInt64.max : sum)
    }

    package static func + (lhs: Instant, rhs: Duration) -> Instant {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.clampedNanoseconds)
        return Instant(nanoseconds: overflow ? UInt64.max : sum)
    }

    /// The span from `earlier` to self (zero if earlier is later).
    package func duration(since earlier: Instant) -> Duration {
        nanoseconds > earlier.nanoseconds ? .nanoseconds(Int64(nanoseconds - earlier.nanoseconds)) : .zero
    }
}
