import Config
import Glibc
import Supervision
import System

/// The upstream of one `[proxy:x]`: the ready workers, per-request
/// balancing, and one FIFO queue in front of them. A request goes to a
/// worker with a free slot (`max_inflight`) or waits here, never in a busy
/// worker's accept backlog; the first slot that frees takes the oldest
/// waiting request. A request that cannot be served within queue_timeout
/// given the queue ahead of it is refused at once (SPEC §10 overload).
final class WorkerPool {
    private(set) var workers: [WorkerSlot] = []
    private var byProcess: [ObjectIdentifier: WorkerSlot] = [:]
    private var queue: [Exchange?] = []
    private var queueHead = 0
    private(set) var queueLength = 0
    let config: ProxyConfig
    let metrics: ProxyMetrics
    private var roundRobin = 0
    private var random = SplitMix64(seed: UInt64(truncatingIfNeeded: Instant.now.nanoseconds))
    /// Recent upstream service time, for the overload estimate.
    private var serviceSeconds = 0.0
    private var serviceSamples = 0
    private static let recentCount = 256
    private var recentService: [Double] = []
    private var serviceP95 = 0.0
    /// Standard deviation of the recent service times: how far the work
    /// queued ahead of a request may stray from its mean.
    private var serviceDeviation = 0.0
    /// Hands a request to a worker (the proxy owns connections).
    var dispatch: ((Exchange, WorkerSlot) -> Void)?
    /// Answers a request drover refuses (503 with Retry-After).
    var refuse: ((Exchange, _ reason: String, _ retryAfter: Int) -> Void)?
    /// Sends a health probe that waited for a free slot of its worker.
    var startProbe: ((WorkerProbe, WorkerSlot) -> Void)?
    /// Workers with a probe waiting for a slot (so a freed slot looks for them).
    private var probesWaiting = 0

    init(config: ProxyConfig, metrics: ProxyMetrics) {
        self.config = config
        self.metrics = metrics
    }

    var readyCount: Int { workers.count }

    // MARK: Membership

    func add(_ process: ManagedProcess, port: Int) {
        let key = ObjectIdentifier(process)
        if let existing = byProcess[key], existing.isMember, existing.port == port { return }
        if let existing = byProcess[key] { leave(existing) }
        let slot = WorkerSlot(process: process, port: port, maxInflight: config.maxInflight)
        byProcess[key] = slot
        workers.append(slot)
        drainQueue()
    }

    func remove(_ process: ManagedProcess) {
        guard let slot = byProcess.removeValue(forKey: ObjectIdentifier(process)) else { return }
        leave(slot)
    }

    private func leave(_ slot: WorkerSlot) {
        slot.isMember = false
        workers.removeAll { $0 === slot }
        slot.closeIdle()
        // A probe waiting on it waits out its timeout as `busy`.
        stopWaiting(slot)
    }

    // MARK: Health probes

    /// A probe of a worker whose slots are all taken: it takes the next one
    /// that frees on that worker, ahead of every queued request.
    func waitForSlot(_ probe: WorkerProbe, on slot: WorkerSlot) {
        if slot.waitingProbe == nil { probesWaiting += 1 }
        slot.waitingProbe = probe
    }

    /// The probe waiting on `slot`, no longer waiting.
    @discardableResult
    func stopWaiting(_ slot: WorkerSlot) -> WorkerProbe? {
        guard let probe = slot.waitingProbe else { return nil }
        slot.waitingProbe = nil
        probesWaiting -= 1
        return probe
    }

    private func startWaitingProbes() {
        for slot in workers where slot.waitingProbe != nil && slot.hasCapacity {
            if let probe = stopWaiting(slot) { startProbe?(probe, slot) }
        }
    }

    func slot(for process: ManagedProcess) -> WorkerSlot? { byProcess[ObjectIdentifier(process)] }

    // MARK: Requests

    /// A whole request is ready: to a worker now, into the queue, or refused.
    func submit(_ exchange: Exchange) {
        if queueLength == 0, let worker = choose(for: exchange) {
            return dispatch?(exchange, worker) ?? ()
        }
        if queueLength >= config.queueSize {
            metrics.refusedQueueFull += 1
            return refuse?(exchange, "queue full (\(config.queueSize) waiting)", retryAfter()) ?? ()
        }
        if let wait = estimatedWait(position: queueLength), wait > config.queueTimeout {
            metrics.refusedEarly += 1
            return refuse?(exchange, "overloaded: about \(Int(wait.rounded(.up)))s of work is queued ahead", retryAfter()) ?? ()
        }
        enqueue(exchange)
    }

    /// A retry goes ahead of the queue: it has waited already.
    func resubmit(_ exchange: Exchange) {
        if let worker = choose(for: exchange) { return dispatch?(exchange, worker) ?? () }
        exchange.phase = .queued
        exchange.client?.queued(exchange)
        if queueHead > 0 {
            queueHead -= 1
            queue[queueHead] = exchange
        } else {
            queue.insert(exchange, at: 0)
        }
        queueLength += 1
        metrics.queueLength = queueLength
    }

    private func enqueue(_ exchange: Exchange) {
        exchange.phase = .queued
        queue.append(exchange)
        queueLength += 1
        metrics.queueLength = queueLength
        exchange.client?.queued(exchange)
    }

    /// Out of the queue: its client left or its queue_timeout passed.
    func cancelQueued(_ exchange: Exchange) {
        guard exchange.phase == .queued, !exchange.cancelled else { return }
        exchange.cancelled = true
        queueLength -= 1
        metrics.queueLength = queueLength
        compactIfMostlyCancelled()
    }

    /// A slot freed (or a worker joined): feed the oldest waiting requests.
    /// A retry waiting for a worker it has not failed on does not hold up
    /// the requests behind it: the next one that can take the free slot does.
    func drainQueue() {
        if probesWaiting > 0 { startWaitingProbes() }
        while queueLength > 0 {
            guard let next = peekQueued() else { return }
            if let worker = choose(for: next) {
                popQueued()
                metrics.observeQueueWait(Instant.now.duration(since: next.receivedAt).secondsValue)
                dispatch?(next, worker)
                continue
            }
            guard workers.contains(where: \.hasCapacity), let (index, exchange, worker) = firstDispatchable(after: queueHead) else { return }
            queue[index] = nil
            queueLength -= 1
            metrics.queueLength = queueLength
            metrics.observeQueueWait(Instant.now.duration(since: exchange.receivedAt).secondsValue)
            dispatch?(exchange, worker)
        }
    }

    /// The first of the next few queued requests that a free worker can take.
    private func firstDispatchable(after start: Int) -> (Int, Exchange, WorkerSlot)? {
        var index = start + 1
        var looked = 0
        while index < queue.count && looked < 32 {
            if let exchange = queue[index], !exchange.cancelled {
                looked += 1
                if let worker = choose(for: exchange) { return (index, exchange, worker) }
            }
            index += 1
        }
        return nil
    }

    private func peekQueued() -> Exchange? {
        while queueHead < queue.count {
            if let exchange = queue[queueHead], !exchange.cancelled { return exchange }
            queue[queueHead] = nil
            queueHead += 1
        }
        return nil
    }

    private func popQueued() {
        queue[queueHead] = nil
        queueHead += 1
        queueLength -= 1
        metrics.queueLength = queueLength
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: queue.count <= 4096)
            queueHead = 0
        } else if queueHead > 1024 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }

    private func compactIfMostlyCancelled() {
        let stored = queue.count - queueHead
        guard stored > 64, stored > 2 * queueLength else { return }
        queue = queue[queueHead...].filter { $0.map { !$0.cancelled } ?? false }
        queueHead = 0
    }

    /// The queue as it stands, oldest first (shutdown refuses them).
    func takeAllQueued() -> [Exchange] {
        var all: [Exchange] = []
        while let next = peekQueued() {
            popQueued()
            all.append(next)
        }
        return all
    }

    // MARK: Balancing

    private func choose(for exchange: Exchange) -> WorkerSlot? {
        let count = workers.count
        guard count > 0 else { return nil }
        // Prefer a worker this request has not failed on.
        func eligible(_ slot: WorkerSlot) -> Bool {
            slot.hasCapacity && !exchange.triedWorkers.contains(ObjectIdentifier(slot))
        }
        if let chosen = pick(eligible) { return chosen }
        // Back to a worker it failed on only when no other is in the pool
        // (a pool of one, or a stale pooled connection); else it waits.
        if exchange.triedWorkers.isEmpty { return nil }
        if workers.contains(where: { !exchange.triedWorkers.contains(ObjectIdentifier($0)) }) { return nil }
        return pick { $0.hasCapacity }
    }

    private func pick(_ eligible: (WorkerSlot) -> Bool) -> WorkerSlot? {
        let count = workers.count
        switch config.balance {
        case .roundRobin:
            for step in 0..<count {
                let slot = workers[(roundRobin + step) % count]
                if eligible(slot) {
                    roundRobin = (roundRobin + step + 1) % count
                    return slot
                }
            }
            return nil
        case .leastInflight:
            // Ties rotate, so an idle pool still spreads requests.
            var best: WorkerSlot?
            for step in 0..<count {
                let slot = workers[(roundRobin + step) % count]
                if eligible(slot) && (best == nil || slot.inflight < best!.inflight) { best = slot }
            }
            roundRobin = (roundRobin + 1) % count
            return best
        case .p2c:
            let candidates = workers.filter(eligible)
            guard !candidates.isEmpty else { return nil }
            if candidates.count == 1 { return candidates[0] }
            let a = Int(random.next() % UInt64(candidates.count))
            var b = Int(random.next() % UInt64(candidates.count - 1))
            if b >= a { b += 1 }
            return candidates[a].inflight <= candidates[b].inflight ? candidates[a] : candidates[b]
        }
    }

    // MARK: Overload estimate

    func observeService(seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        serviceSamples += 1
        let weight = serviceSamples < 20 ? 1.0 / Double(serviceSamples) : 0.05
        serviceSeconds += (seconds - serviceSeconds) * weight
        if recentService.count < Self.recentCount {
            recentService.append(seconds)
        } else {
            recentService[serviceSamples % Self.recentCount] = seconds
        }
        if serviceSamples % 32 == 0 || serviceSamples == 20 {
            let sorted = recentService.sorted()
            serviceP95 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.95))]
            let mean = sorted.reduce(0, +) / Double(sorted.count)
            let square = sorted.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            serviceDeviation = (square / Double(sorted.count)).squareRoot()
        }
    }

    /// z for the 99th percentile of a normal distribution: the SPEC bounds
    /// the p99 of answered requests by queue_timeout.
    private static let p99Deviations = 2.33

    /// Seconds until a request at `position` in the queue would be answered,
    /// for 99 requests in 100: the n = position + 1 services ahead of it (the
    /// queue and the one finishing) spread over the pool's slots, at the
    /// recent mean plus 2.33 standard deviations of their sum (√n × the
    /// deviation of one), then its own service at the recent 95th
    /// percentile. The deviation term is what keeps a mixed load honest:
    /// with 90% 10 ms and 10% 200 ms requests, 100 queued ones vary by about
    /// ±0.3 s around their mean, and admitting on the mean alone let the
    /// unlucky tail wait out queue_timeout and get a late 503 instead of a
    /// fast one. nil while there is too little history (or no worker) to say.
    func estimatedWait(position: Int) -> Double? {
        guard serviceSamples >= 20, !workers.isEmpty, config.maxInflight > 0 else { return nil }
        let slots = Double(workers.count * config.maxInflight)
        let ahead = Double(position + 1)
        let work = ahead * serviceSeconds + Self.p99Deviations * serviceDeviation * ahead.squareRoot()
        return work / slots + max(serviceSeconds, serviceP95)
    }

    func retryAfter() -> Int {
        let wait = estimatedWait(position: queueLength) ?? 1
        return max(1, min(3600, Int(wait.rounded(.up))))
    }
}

/// A small fast PRNG for p2c and request ids (not for secrets).
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
