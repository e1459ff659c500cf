import System

/// How status views write lengths of time, the way supervisorctl does.
package enum DurationText {
    /// `0:12:03`, `27:00:00` never: past a day it is `1 day, 3:00:00` /
    /// `2 days, 3:04:05`. Whole seconds, rounded down.
    package static func uptime(_ seconds: Double) -> String {
        let total = seconds.isFinite && seconds > 0 ? Int(seconds) : 0
        let days = total / 86_400
        let hours = (total / 3600) % 24
        let clock = "\(hours):\(WallClock.pad(total / 60 % 60)):\(WallClock.pad(total % 60))"
        switch days {
        case 0: return clock
        case 1: return "1 day, " + clock
        default: return "\(days) days, " + clock
        }
    }

    /// `2.0s`, `0.5s`: one decimal, rounded to nearest; negative reads as 0.
    package static func tenths(_ seconds: Double) -> String {
        let scaled = seconds.isFinite && seconds > 0 ? Int((seconds * 10).rounded()) : 0
        return "\(scaled / 10).\(scaled % 10)s"
    }
}
