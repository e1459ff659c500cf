import Config
import System

/// `rate_limit = 10r/s burst=20`: a token bucket per client address, as
/// nginx's limit_req. Buckets that have refilled are forgotten, so memory
/// follows the clients seen in the last moments, not all time.
final class RateLimiter {
    private struct Bucket {
        var tokens: Double
        var updated: UInt64
    }

    private let perSecond: Double
    private let capacity: Double
    private var buckets: [String: Bucket] = [:]
    private var lastSweep: UInt64 = 0

    init(_ limit: RateLimit) {
        perSecond = limit.perSecond
        capacity = Double(max(1, limit.burst + 1))
    }

    func allow(_ client: String, now: UInt64 = Instant.now.nanoseconds) -> Bool {
        sweepIfDue(now)
        var bucket = buckets[client] ?? Bucket(tokens: capacity, updated: now)
        let elapsed = Double(now &- bucket.updated) / 1e9
        bucket.tokens = min(capacity, bucket.tokens + elapsed * perSecond)
        bucket.updated = now
        let allowed = bucket.tokens >= 1
        if allowed { bucket.tokens -= 1 }
        buckets[client] = bucket
        return allowed
    }

    var trackedClients: Int { buckets.count }

    private func sweepIfDue(_ now: UInt64) {
        guard now &- lastSweep > 10_000_000_000 || buckets.count > 100_000 else { return }
        lastSweep = now
        let refill = capacity / perSecond
        buckets = buckets.filter { Double(now &- $0.value.updated) / 1e9 < refill }
    }
}
