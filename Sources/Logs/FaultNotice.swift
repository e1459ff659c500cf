import System

/// Turns a stream of failures and successes of one operation (writing a
/// log, rotating it, spawning a worker) into what an operator should read:
/// the first failure, once; nothing while it keeps failing; one line when
/// it works again. A fault that comes back within `quietPeriod` of the
/// last report is not reported again by itself: it is counted and named in
/// the next report, so a flapping fault cannot flood drover's own log.
package struct FaultNotice: Sendable {
    package let quietPeriod: Double
    /// The failure being suffered now, if any.
    package private(set) var current: String?
    /// Failed attempts since the fault began.
    package private(set) var failures = 0
    /// Faults that began inside the quiet period and were not reported.
    package private(set) var unreported = 0
    private var lastReport: Instant?
    /// Whether this episode of failures was reported (so its end is too).
    private var reportedCurrent = false

    package init(quietPeriod: Double = 30) {
        self.quietPeriod = quietPeriod
    }

    package var isFailing: Bool { current != nil }

    /// Records a failure; returns the line to log, or nil when it was said already.
    package mutating func failed(_ reason: String, now: Instant = .now) -> String? {
        failures += 1
        if current == reason { return nil }
        // A new fault, or the same operation failing for another reason.
        current = reason
        if let lastReport, now.seconds(since: lastReport) < quietPeriod {
            unreported += 1
            return nil
        }
        lastReport = now
        reportedCurrent = true
        let earlier = unreported
        unreported = 0
        return earlier > 0 ? "\(reason) (and \(earlier) earlier fault\(earlier == 1 ? "" : "s") not logged)" : reason
    }

    /// Records a success; returns the recovery line when a reported fault ended.
    package mutating func succeeded() -> String? {
        guard current != nil else { return nil }
        let count = failures
        let wasReported = reportedCurrent
        current = nil
        failures = 0
        reportedCurrent = false
        return wasReported ? "recovered after \(count) failed attempt\(count == 1 ? "" : "s")" : nil
    }
}
