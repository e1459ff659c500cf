import JSON

/// Latency percentiles over a window of `drover top` looks: the daemon's
/// histograms are cumulative since start with coarse Prometheus buckets, so
/// their quantiles were bucket bounds for all time (WAIT p99 `2.50s` for a
/// lone 1.35 s wait, and still after an hour of fast requests). Here the
/// window is the difference between two looks, read by linear interpolation
/// inside the bucket that holds the quantile (Prometheus' histogram_quantile)
/// and exact when the window holds one observation (its sum).
struct WindowedHistogram: Equatable {
    var bounds: [Double]
    /// One count per bound, then the overflow bucket.
    var counts: [UInt64]
    var sum: Double
    var count: UInt64

    /// From the `{"bounds", "counts", "sum", "count"}` of `/v1/status`.
    init?(json: JSONValue?) {
        guard let json, let bounds = json["bounds"]?.arrayValue?.compactMap(\.doubleValue),
              let counts = json["counts"]?.arrayValue?.compactMap({ $0.doubleValue.map { UInt64(max(0, $0)) } }),
              counts.count == bounds.count + 1 else { return nil }
        self.init(bounds: bounds, counts: counts, sum: json["sum"]?.doubleValue ?? 0, count: counts.reduce(0, +))
    }

    init(bounds: [Double], counts: [UInt64], sum: Double, count: UInt64) {
        self.bounds = bounds
        self.counts = counts
        self.sum = sum
        self.count = count
    }

    /// What was observed after `earlier`. A histogram that went backwards
    /// (its worker was replaced, the daemon restarted) starts over: all of
    /// this one is new.
    func since(_ earlier: WindowedHistogram?) -> WindowedHistogram {
        guard let earlier, earlier.bounds == bounds,
              zip(counts, earlier.counts).allSatisfy({ $0 >= $1 }) else { return self }
        let window = zip(counts, earlier.counts).map { $0 - $1 }
        return WindowedHistogram(bounds: bounds, counts: window, sum: max(0, sum - earlier.sum), count: window.reduce(0, +))
    }

    /// The q-quantile of the window; nil when nothing was observed.
    func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        if count == 1 { return sum }
        let rank = q * Double(count)
        var below: UInt64 = 0
        for (index, n) in counts.enumerated() where n > 0 {
            if Double(below + n) >= rank {
                let lower = index == 0 ? 0 : bounds[index - 1]
                // Past the last bound nothing says how far: its lower bound.
                guard index < bounds.count else { return lower }
                let fraction = max(0, rank - Double(below)) / Double(n)
                return lower + (bounds[index] - lower) * fraction
            }
            below += n
        }
        return bounds.last
    }
}
