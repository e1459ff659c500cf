import Config
import Glibc
import System

/// The upstream of one `[proxy:x]`: the ready workers, per-request
/// balancing, and one FIFO queue in front of them. A request goes to a
/// worker with a free slot (`max_inflight`) or waits here, never in a busy
/// worker's accept backlog; the first slot that frees takes the oldest
/// waiting request. A request that cannot be served within queue_timeout
/// given the queue ahead of it is refused at once (SPEC §10 overload), from
/// the first request on; one already queued is refused as soon as the queue
/// ahead of it shows it cannot be, not at its deadline.
final class WorkerPool {
    private(set) var workers: [WorkerSlot] = []
    private var byWorker: [WorkerID: WorkerSlot] = [:]
    private var queue: [Exchange?] = []
    private var queueHead = 0
    private(set) var queueLength = 0
    let config: ProxyConfig
    let metrics: ProxyMetrics
    private var roundRobin = 0
    private var random = SplitMix64(seed: UInt64(truncatingIfNeeded: Instant.now.nanoseconds))
    /// Upstream service times, for the overload estimate.
    private(set) var service = ServiceTimeEstimate()
    /// How long the clients wait before they leave, as they have shown it:
    /// admission bounds the wait by it when it is shorter than queue_timeout.
    private(set) var patience = ClientPatience()
    /// Set when what is ahead of the queued requests grew (a slower
    /// service measured, a retry put in front, a worker gone): the queue is
    /// looked at again once it has moved.
    private var needsReview = false
    private var reviewScheduled = false
    /// While the history is short, the running requests' ages are evidence
    /// that grows by itself: the queue is looked at again this often.
    static let coldReviewInterval: Duration = .milliseconds(10)
    /// Hands a request to a worker (the proxy owns connections).
    var dispatch: ((Exchange, WorkerSlot) -> Void)?
    /// Answers a request drover refuses (503 with Retry-After).
    var refuse: ((Exchange, _ reason: String, _ retryAfter: Int) -> Void)?
    /// Sends a health probe that waited for a free slot of its worker.
    var startProbe: ((WorkerProbe, WorkerSlot) -> Void)?
    /// Workers with a probe waiting for a slot (so a freed slot looks for them).
    private var probesWaiting = 0
    /// The loop's clock: the proxy sets its reactor's, so a test clock rules
    /// service times and queue deadlines alike.
    var clock: () -> Instant = { .now }
    /// Runs `reviewTimerFired` after the delay (the proxy's reactor timer).
    var scheduleReview: ((Duration) -> Void)?

    init(config: ProxyConfig, metrics: ProxyMetrics) {
        self.config = config
        self.metrics = metrics
    }

    var readyCount: Int { workers.count }

    // MARK: Membership

    func add(_ id: WorkerID, name: String, port: Int, probeSeconds: Double? = nil) {
        if let existing = byWorker[id], existing.isMember, existing.port == port {
            existing.probeSeconds = probeSeconds ?? existing.probeSeconds
            return
        }
        if let existing = byWorker[id] { leave(existing) }
        let slot = WorkerSlot(id: id, name: name, port: port, maxInflight: config.maxInflight, probeSeconds: probeSeconds)
        byWorker[id] = slot
        workers.append(slot)
        drainQueue()
    }

    func remove(_ id: WorkerID) {
        guard let slot = byWorker.removeValue(forKey: id) else { return }
        leave(slot)
        // Fewer slots: the work queued ahead takes longer to get through.
        reviewQueue()
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

    func slot(for id: WorkerID) -> WorkerSlot? { byWorker[id] }

    // MARK: Requests

    /// A whole request is ready: to a worker now, into the queue, or refused.
    func submit(_ exchange: Exchange) {
        if queueLength == 0, let worker = choose(for: exchange) {
            return send(exchange, to: worker)
        }
        if queueLength >= config.queueSize {
            metrics.refusedQueueFull += 1
            return refuse?(exchange, "queue full (\(config.queueSize) waiting)", retryAfter()) ?? ()
        }
        if let wait = estimatedWait(position: queueLength) {
            let now = clock()
            if wait > config.queueTimeout.secondsValue {
                metrics.refusedEarly += 1
                return refuse?(exchange, "overloaded: about \(Int(wait.rounded(.up)))s of work is queued ahead", retryAfter()) ?? ()
            }
            if let bound = patience.waitBound(now: now), wait > bound - now.seconds(since: exchange.receivedAt) {
                metrics.refusedEarly += 1
                return refuse?(exchange, "overloaded: about \(Self.milliseconds(wait)) ms of work is queued ahead and "
                               + "clients here leave after about \(Self.milliseconds(patience.patience ?? bound)) ms", retryAfter()) ?? ()
            }
        }
        enqueue(exchange)
    }

    private static func milliseconds(_ seconds: Double) -> Int { Int((seconds * 1000).rounded()) }

    // MARK: Client patience

    /// Seconds from its arrival by which a request must be answered for its
    /// client to still be there, as the clients have shown it (nil: no limit
    /// shown).
    func patienceBound() -> Double? { patience.waitBound(now: clock()) }

    /// Its client closed before the answer reached it (queued or at a worker).
    func clientLeft(_ exchange: Exchange) {
        let now = clock()
        patience.clientLeft(age: now.seconds(since: exchange.receivedAt), now: now)
    }

    /// Its answer came back with the client still there.
    func answered(_ exchange: Exchange) {
        patience.answered(age: clock().seconds(since: exchange.receivedAt))
    }

    /// When a queued request must be answered by: queue_timeout after it
    /// was queued, or sooner when its client would have left by then.
    private func deadline(of exchange: Exchange, bound: Double?) -> Instant {
        let queueDeadline = (exchange.queuedAt ?? clock()) + config.queueTimeout
        guard let bound else { return queueDeadline }
        return min(queueDeadline, exchange.receivedAt.adding(seconds: bound))
    }

    /// A retry goes ahead of the queue: it has waited already.
    func resubmit(_ exchange: Exchange) {
        if let worker = choose(for: exchange) { return send(exchange, to: worker) }
        exchange.phase = .queued
        exchange.queuedAt = clock()
        exchange.client?.queued(exchange)
        if queueHead > 0 {
            queueHead -= 1
            queue[queueHead] = exchange
        } else {
            queue.insert(exchange, at: 0)
        }
        queueLength += 1
        metrics.queueLength = queueLength
        // One more service ahead of every request queued.
        needsReview = true
        scheduleColdReview()
    }

    private func enqueue(_ exchange: Exchange) {
        exchange.phase = .queued
        exchange.queuedAt = clock()
        queue.append(exchange)
        queueLength += 1
        metrics.queueLength = queueLength
        exchange.client?.queued(exchange)
        scheduleColdReview()
    }

    /// To a worker, counted as running from now.
    private func send(_ exchange: Exchange, to worker: WorkerSlot) {
        let now = clock()
        exchange.dispatchedAt = now
        service.started(at: now)
        dispatch?(exchange, worker)
    }

    /// The request no longer holds its slot (answered, failed, abandoned).
    /// Called once per dispatch, by whoever frees the slot.
    func serviceEnded(_ exchange: Exchange) {
        guard let started = exchange.dispatchedAt else { return }
        service.ended(startedAt: started)
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
        feedFreeSlots()
        if needsReview {
            needsReview = false
            reviewQueue()
        }
    }

    private func feedFreeSlots() {
        while queueLength > 0 {
            guard let next = peekQueued() else { return }
            if let worker = choose(for: next) {
                popQueued()
                if outlivesItsClient(next) { continue }
                metrics.observeQueueWait(clock().seconds(since: next.receivedAt))
                send(next, to: worker)
                continue
            }
            guard workers.contains(where: \.hasCapacity), let (index, exchange, worker) = firstDispatchable(after: queueHead) else { return }
            queue[index] = nil
            queueLength -= 1
            metrics.queueLength = queueLength
            if outlivesItsClient(exchange) { continue }
            metrics.observeQueueWait(clock().seconds(since: exchange.receivedAt))
            send(exchange, to: worker)
        }
    }

    /// A request taken from the queue whose client, as the clients here
    /// have shown, will have left before a worker could answer it: refused
    /// now (its client is still there to read the 503) rather than computed
    /// for nobody while the requests behind it wait.
    private func outlivesItsClient(_ exchange: Exchange) -> Bool {
        let now = clock()
        guard patience.waitBound(now: now) != nil, let limit = patience.patience,
              let figures = serviceFigures(now: now) else { return false }
        let age = now.seconds(since: exchange.receivedAt)
        guard age + figures.settledMean > limit else { return false }
        exchange.cancelled = true
        metrics.refusedEarly += 1
        refuse?(exchange, "overloaded: waited \(Self.milliseconds(age)) ms and clients here leave after about "
                + "\(Self.milliseconds(limit)) ms", retryAfter())
        return true
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
        service.observe(seconds: seconds)
        needsReview = true
    }

    /// The workers' probe round trip: what any request costs at least,
    /// known before the first one was answered (only asked while the
    /// measured history is short).
    private var probeFloor: Double? {
        var floor: Double?
        for worker in workers {
            if let seconds = worker.probeSeconds { floor = max(floor ?? 0, seconds) }
        }
        return floor
    }

    private func serviceFigures(now: Instant) -> ServiceTimeEstimate.Figures? {
        service.figures(now: now, floor: service.samples < ServiceTimeEstimate.steadyHistory ? probeFloor : nil)
    }

    /// z for the 99th percentile of a normal distribution: the SPEC bounds
    /// the p99 of answered requests by queue_timeout.
    private static let p99Deviations = 2.33

    /// Seconds until a request at `position` in the queue would be answered,
    /// for 99 requests in 100: the n = position + 1 services ahead of it (the
    /// queue and the one finishing) spread over the pool's slots, at the
    /// mean plus 2.33 standard deviations of their sum (√n × the deviation
    /// of one), then its own service at the 95th percentile. The deviation
    /// term is what keeps a mixed load honest: with 90% 10 ms and 10% 200 ms
    /// requests, 100 queued ones vary by about ±0.3 s around their mean, and
    /// admitting on the mean alone let the unlucky tail wait out
    /// queue_timeout and get a late 503 instead of a fast one. The figures
    /// are ServiceTimeEstimate's (from the first request on); nil only
    /// without a cap, without a worker, or with nothing known at all.
    func estimatedWait(position: Int) -> Double? {
        guard config.maxInflight > 0, !workers.isEmpty, let figures = serviceFigures(now: clock()) else { return nil }
        return wait(position: position, figures)
    }

    private func wait(position: Int, _ figures: ServiceTimeEstimate.Figures) -> Double {
        let slots = Double(workers.count * config.maxInflight)
        let ahead = Double(position + 1)
        let work = ahead * figures.mean + Self.p99Deviations * figures.deviation * ahead.squareRoot()
        return work / slots + figures.p95
    }

    func retryAfter() -> Int {
        let wait = estimatedWait(position: queueLength) ?? 1
        return max(1, min(3600, Int(wait.rounded(.up))))
    }

    // MARK: Review

    /// The queue looked at again with what is known now: from the newest
    /// request back, each that will surely miss its deadline (queued at +
    /// queue_timeout) is refused now rather than at that deadline; the first
    /// that can still make it ends the walk. Under overload the newest are
    /// the ones at risk: each arrived with more work ahead than the one
    /// before it had left to wait.
    ///
    /// "Surely" mirrors admission: admission wants 99 in 100 answered in
    /// time, a refusal wants 99 in 100 to have missed. The work ahead is
    /// counted at the settled mean less 2.33 standard deviations of its sum
    /// (not plus), less what the running requests have already done of the
    /// one finishing, then its own service at the settled mean. So a
    /// request admitted on the pessimistic bound is refused later only when
    /// the figures got clearly worse (a worker gone, the running requests
    /// far older than the history said, a slower service sustained), never
    /// because time passed while the queue moved as expected, nor because
    /// one slow request swung the weighted mean: in the overload bench an
    /// expected-case review cut requests that the old code served in time.
    func reviewQueue() {
        guard config.maxInflight > 0, queueLength > 0, !workers.isEmpty else { return }
        let now = clock()
        guard let figures = serviceFigures(now: now) else { return }
        let slots = Double(workers.count * config.maxInflight)
        let mean = figures.settledMean
        let done = min(service.runningAges(now: now), mean)
        let bound = patience.waitBound(now: now)
        var hopeless: [Exchange] = []
        var index = queue.count - 1
        while index >= queueHead && queueLength > 0 {
            guard let exchange = queue[index], !exchange.cancelled else {
                index -= 1
                continue
            }
            let ahead = Double(queueLength)
            let work = max(0, ahead * mean - Self.p99Deviations * figures.deviation * ahead.squareRoot() - done)
            if now.adding(seconds: work / slots + mean) <= deadline(of: exchange, bound: bound) { break }
            queue[index] = nil
            exchange.cancelled = true
            queueLength -= 1
            hopeless.append(exchange)
            index -= 1
        }
        guard !hopeless.isEmpty else { return }
        while queue.count > queueHead, queue[queue.count - 1].map(\.cancelled) ?? true { queue.removeLast() }
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: queue.count <= 4096)
            queueHead = 0
        }
        metrics.queueLength = queueLength
        let retry = retryAfter()
        // Oldest first, as they arrived; after the walk, because answering
        // one may read that client's next request into the pool.
        for exchange in hopeless.reversed() {
            metrics.refusedEarly += 1
            refuse?(exchange, "overloaded: it could not be answered within queue_timeout behind the requests ahead of it", retry)
        }
    }

    /// While the measured history is short and requests are queued behind
    /// running ones, their growing ages are looked at every 10 ms.
    private func scheduleColdReview() {
        guard !reviewScheduled, let scheduleReview, config.maxInflight > 0, queueLength > 0,
              service.samples < ServiceTimeEstimate.steadyHistory, service.running > 0 else { return }
        reviewScheduled = true
        scheduleReview(Self.coldReviewInterval)
    }

    func reviewTimerFired() {
        reviewScheduled = false
        reviewQueue()
        scheduleColdReview()
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
