/// Counters of one proxy for /metrics and the status page: requests by
/// status, queue length and wait, upstream time, retries, refusals.
final class ProxyMetrics {
    /// Upper bounds (seconds) of the histogram buckets, Prometheus-style.
    static let bucketBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    struct Histogram {
        var counts = [UInt64](repeating: 0, count: ProxyMetrics.bucketBounds.count + 1)
        var sum = 0.0
        var count: UInt64 = 0

        mutating func observe(_ seconds: Double) {
            var index = 0
            while index < ProxyMetrics.bucketBounds.count && seconds > ProxyMetrics.bucketBounds[index] { index += 1 }
            counts[index] += 1
            sum += seconds
            count += 1
        }

        /// The q-quantile estimated from the buckets (upper bound of the bucket).
        func quantile(_ q: Double) -> Double? {
            guard count > 0 else { return nil }
            let target = UInt64((Double(count) * q).rounded(.up))
            var seen: UInt64 = 0
            for (index, n) in counts.enumerated() {
                seen += n
                if seen >= target { return index < ProxyMetrics.bucketBounds.count ? ProxyMetrics.bucketBounds[index] : .infinity }
            }
            return nil
        }
    }

    var requestsByStatus: [Int: UInt64] = [:]
    var queueLength = 0
    var queueWait = Histogram()
    var upstreamTime = Histogram()
    var retries: UInt64 = 0
    var refusedQueueFull: UInt64 = 0
    var refusedEarly: UInt64 = 0
    var queueTimeouts: UInt64 = 0
    var clientAborts: UInt64 = 0
    var openClientConnections = 0
    var openUpstreamConnections = 0

    func count(status: Int) {
        requestsByStatus[status, default: 0] += 1
    }

    func observeQueueWait(_ seconds: Double) { queueWait.observe(seconds) }

    var snapshot: ProxyTraffic {
        func histogram(_ h: Histogram) -> SecondsHistogram {
            SecondsHistogram(bounds: Self.bucketBounds, counts: h.counts, sum: h.sum, count: h.count)
        }
        return ProxyTraffic(
            requestsByStatus: requestsByStatus.sorted { $0.key < $1.key }.map { (status: $0.key, count: $0.value) },
            queueLength: queueLength, queueWait: histogram(queueWait), upstreamTime: histogram(upstreamTime),
            retries: retries, refusedQueueFull: refusedQueueFull, refusedOverload: refusedEarly,
            queueTimeouts: queueTimeouts, clientAborts: clientAborts,
            clientConnections: openClientConnections, upstreamConnections: openUpstreamConnections)
    }
}
