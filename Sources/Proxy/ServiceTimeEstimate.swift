import System

/// How long a request keeps a worker slot, as overload admission needs it
/// (SPEC §10): the recent mean, spread and 95th percentile of measured
/// service times, and, while that history is short, what the requests still
/// at a worker already prove. Pure bookkeeping, fed by the pool.
struct ServiceTimeEstimate {
    /// Below this many measured services the history alone is too thin to
    /// admit on, so the estimate also looks at the requests still running
    /// and at the workers' probe round trip.
    static let steadyHistory = 20
    private static let recentCount = 256

    struct Figures: Equatable {
        /// Exponentially weighted: quick to follow a change, for admission.
        var mean: Double
        var deviation: Double
        var p95: Double
        /// The lesser of that mean and the plain mean of the last 256: what
        /// a request costs as far as the evidence is sure of. One 200 ms
        /// request among 10 ms ones moves the weighted mean by a third, the
        /// plain one by 1%; refusing a request already admitted waits for
        /// both to agree.
        var settledMean: Double
    }

    private(set) var samples = 0
    /// Exponentially weighted (a plain mean for the first 20 samples).
    private(set) var mean = 0.0
    private(set) var deviation = 0.0
    private(set) var p95 = 0.0
    private var recent: [Double] = []
    /// Scratch for the percentile, reused (no array per look).
    private var selection: [Double] = []
    private var nextRecent = 0
    private var recentSum = 0.0
    private var recentSquares = 0.0

    /// Requests at a worker now, and the sum of the instants they were sent
    /// at (nanoseconds, wrapping: only `running × now − sum` is used).
    private(set) var running = 0
    private var runningStartSum: UInt64 = 0

    mutating func started(at instant: Instant) {
        running += 1
        runningStartSum &+= instant.nanoseconds
    }

    mutating func ended(startedAt instant: Instant) {
        guard running > 0 else { return }
        running -= 1
        runningStartSum = running == 0 ? 0 : runningStartSum &- instant.nanoseconds
    }

    mutating func observe(seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        samples += 1
        let weight = samples < Self.steadyHistory ? 1.0 / Double(samples) : 0.05
        mean += (seconds - mean) * weight
        if recent.count < Self.recentCount {
            recent.append(seconds)
        } else {
            let old = recent[nextRecent]
            recentSum -= old
            recentSquares -= old * old
            recent[nextRecent] = seconds
            nextRecent = (nextRecent + 1) % Self.recentCount
        }
        recentSum += seconds
        recentSquares += seconds * seconds
        // The percentile is looked for after every sample while the history
        // is young (it moves fastest then), every 32 after that. The sums
        // are made exact again at the same time (no drift).
        if samples <= 64 || samples % 32 == 0 {
            selection.removeAll(keepingCapacity: true)
            selection.append(contentsOf: recent)
            p95 = Self.select(&selection, rank: min(selection.count - 1, Int(Double(selection.count) * 0.95)))
            recentSum = recent.reduce(0, +)
            recentSquares = recent.reduce(0) { $0 + $1 * $1 }
        }
        let count = Double(recent.count)
        let average = recentSum / count
        deviation = max(0, recentSquares / count - average * average).squareRoot()
    }

    /// The value of rank `rank` in sorted order (Hoare's selection, in
    /// place: linear on average, where a sort would be n log n and
    /// allocate its merge buffer).
    static func select(_ values: inout [Double], rank: Int) -> Double {
        var low = 0, high = values.count - 1
        while low < high {
            let pivot = values[low + (high - low) / 2]
            var i = low, j = high
            while i <= j {
                while values[i] < pivot { i += 1 }
                while values[j] > pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if rank <= j {
                high = j
            } else if rank >= i {
                low = i
            } else {
                return values[rank]
            }
        }
        return values[rank]
    }

    /// Seconds the requests at a worker have run so far, all together.
    func runningAges(now: Instant) -> Double {
        guard running > 0 else { return 0 }
        let total = (UInt64(running) &* now.nanoseconds) &- runningStartSum
        return total < (1 << 62) ? Double(total) / 1e9 : 0
    }

    /// What to admit on at `now`; nil when nothing at all is known yet.
    /// With 20 or more measured services: those. Before that, the mean is
    /// raised to what the evidence proves: `floor` (the workers' probe round
    /// trip, known before any request) and the requests still running, each
    /// counted as a service of its age so far. A cold pool whose first
    /// requests take 0.2 s so learns, while they run, that the 23 requests
    /// queued behind them cannot all fit, instead of finding out at
    /// queue_timeout.
    func figures(now: Instant, floor: Double?) -> Figures? {
        if samples >= Self.steadyHistory {
            return Figures(mean: mean, deviation: deviation, p95: max(mean, p95),
                           settledMean: min(mean, recentSum / Double(recent.count)))
        }
        var estimate = max(samples > 0 ? mean : 0, floor ?? 0)
        if running > 0 {
            estimate = max(estimate, (Double(samples) * mean + runningAges(now: now)) / Double(samples + running))
        }
        guard estimate > 0 else { return nil }
        return Figures(mean: estimate, deviation: deviation, p95: max(estimate, p95), settledMean: estimate)
    }
}
