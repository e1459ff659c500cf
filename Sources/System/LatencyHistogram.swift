/// Seconds counted into fixed buckets (Prometheus-style bounds), with
/// their sum: constant memory however many requests pass, and quantiles
/// read off as the bound of the bucket that holds them.
package struct LatencyHistogram {
    package static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    /// One count per bound, then the overflow bucket.
    package private(set) var counts = [UInt64](repeating: 0, count: LatencyHistogram.bounds.count + 1)
    package private(set) var sum = 0.0
    package private(set) var count: UInt64 = 0

    package init() {}

    package mutating func observe(_ seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        var index = 0
        while index < Self.bounds.count && seconds > Self.bounds[index] { index += 1 }
        counts[index] += 1
        sum += seconds
        count += 1
    }

    /// The upper bound of the bucket holding the q-quantile (∞ past the last).
    package func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let target = max(1, UInt64((Double(count) * q).rounded(.up)))
        var seen: UInt64 = 0
        for (index, n) in counts.enumerated() {
            seen += n
            if seen >= target { return index < Self.bounds.count ? Self.bounds[index] : .infinity }
        }
        return nil
    }
}
