import System

/// A histogram of seconds with fixed bucket bounds (Prometheus-style,
/// counts not cumulative here; the renderer accumulates).
package struct SecondsHistogram: Sendable, Equatable {
    package var bounds: [Double]
    /// One count per bound, plus the overflow bucket last.
    package var counts: [UInt64]
    package var sum: Double
    package var count: UInt64

    package init(bounds: [Double], counts: [UInt64], sum: Double, count: UInt64) {
        self.bounds = bounds
        self.counts = counts
        self.sum = sum
        self.count = count
    }

    package init(_ histogram: LatencyHistogram) {
        self.init(bounds: LatencyHistogram.bounds, counts: histogram.counts, sum: histogram.sum, count: histogram.count)
    }

    /// The upper bound of the bucket holding the q-quantile.
    package func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let target = UInt64((Double(count) * q).rounded(.up))
        var seen: UInt64 = 0
        for (index, n) in counts.enumerated() {
            seen += n
            if seen >= target { return index < bounds.count ? bounds[index] : .infinity }
        }
        return nil
    }
}

/// A proxy's counters for /metrics, the status page and `status --json`.
package struct ProxyTraffic: Sendable, Equatable {
    package var requestsByStatus: [(status: Int, count: UInt64)]
    package var queueLength: Int
    package var queueWait: SecondsHistogram
    package var upstreamTime: SecondsHistogram
    package var retries: UInt64
    package var refusedQueueFull: UInt64
    package var refusedOverload: UInt64
    package var queueTimeouts: UInt64
    package var clientAborts: UInt64
    package var clientConnections: Int
    package var upstreamConnections: Int
    /// Seconds the clients wait before they leave, as they have shown it
    /// (WorkerPool's ClientPatience); nil while they have shown no limit.
    package var clientPatienceSeconds: Double?

    package init(requestsByStatus: [(status: Int, count: UInt64)], queueLength: Int, queueWait: SecondsHistogram,
                 upstreamTime: SecondsHistogram, retries: UInt64, refusedQueueFull: UInt64, refusedOverload: UInt64,
                 queueTimeouts: UInt64, clientAborts: UInt64, clientConnections: Int, upstreamConnections: Int) {
        self.requestsByStatus = requestsByStatus
        self.queueLength = queueLength
        self.queueWait = queueWait
        self.upstreamTime = upstreamTime
        self.retries = retries
        self.refusedQueueFull = refusedQueueFull
        self.refusedOverload = refusedOverload
        self.queueTimeouts = queueTimeouts
        self.clientAborts = clientAborts
        self.clientConnections = clientConnections
        self.upstreamConnections = upstreamConnections
    }

    package var requests: UInt64 { requestsByStatus.reduce(0) { $0 + $1.count } }

    package static func == (a: ProxyTraffic, b: ProxyTraffic) -> Bool {
        a.requestsByStatus.map(\.status) == b.requestsByStatus.map(\.status)
            && a.requestsByStatus.map(\.count) == b.requestsByStatus.map(\.count)
            && a.queueLength == b.queueLength && a.queueWait == b.queueWait && a.upstreamTime == b.upstreamTime
            && a.retries == b.retries && a.refusedQueueFull == b.refusedQueueFull
            && a.refusedOverload == b.refusedOverload && a.queueTimeouts == b.queueTimeouts
            && a.clientAborts == b.clientAborts && a.clientConnections == b.clientConnections
            && a.upstreamConnections == b.upstreamConnections && a.clientPatienceSeconds == b.clientPatienceSeconds
    }
}
