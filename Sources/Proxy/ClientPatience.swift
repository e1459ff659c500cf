import System

/// How long this proxy's clients wait for an answer, as their own behaviour
/// shows it: the ages at which they closed their connection before being
/// answered, weighed against the answers that came later than that and
/// were still taken. Pure bookkeeping, fed by the proxy, read by admission.
///
/// Why: queue_timeout bounds how long drover lets a request wait, but a
/// client with a 1 s timeout leaves at 1 s whatever drover allows. Under
/// overload, admitting on queue_timeout (2 s) then fills the queue with
/// requests whose clients leave before their turn, and every request sent
/// to a worker after waiting ~1 s is computed for nobody: in the timeout
/// storm bench half of the workers' time went to answers nobody took. When
/// the clients have shown they leave at age P, admission bounds the wait by
/// P (less a margin) instead: what cannot be answered in time is refused at
/// once with a 503 the client is still there to read, and the workers' time
/// goes to requests whose clients will take the answer.
///
/// When the evidence counts: of the last 64 clients that left (at least
/// `minimumAbandons`), P is the 20th percentile of their ages (one
/// impatient `curl -m 0.2` among patient clients does not set it), and of
/// the last 64 answers taken at an age some client had left at, no more
/// reached age P than clients left after P. Patient clients answered after
/// P so lift the bound again. The evidence is kept by count, not by time:
/// once the bound works, few clients leave and few answers are late, and a
/// window of the last few seconds would empty and let the queue grow back
/// to queue_timeout (the storm returns, a sawtooth). It is all forgotten
/// `memory` after the last client left, so a population that stopped
/// leaving is re-learnt.
struct ClientPatience {
    static let minimumAbandons = 8
    static let memory: Duration = .seconds(60)
    /// The answer should reach the client this much before it would leave:
    /// the estimate is of drover's clock, the client's timer started before
    /// its request reached drover and stops when the answer reaches it.
    static let margin = 0.9
    private static let evidenceCount = 64
    /// Evidence is weighed again at most this often (and when asked after
    /// something changed): admission reads the bound once per request.
    private static let recomputeInterval: Duration = .milliseconds(50)

    private var abandonAges: [Double] = []
    private var nextAbandon = 0
    private var lastAbandonAt: Instant?
    /// Ages of recent answers taken no younger than the youngest age a
    /// client left at (younger ones say nothing about the patience).
    private var lateAnswerAges: [Double] = []
    private var nextLateAnswer = 0
    private var youngestAbandon = Double.infinity
    private var scratch: [Double] = []
    private var changed = false
    private var computedAt: Instant?
    /// Seconds: the clients' patience as last computed (nil: no evidence).
    private(set) var patience: Double?

    /// A client closed before its answer reached it, `age` seconds after
    /// its request arrived.
    mutating func clientLeft(age: Double, now: Instant) {
        guard age.isFinite, age >= 0 else { return }
        Self.append(age, to: &abandonAges, next: &nextAbandon)
        youngestAbandon = abandonAges.min() ?? .infinity
        lastAbandonAt = now
        changed = true
    }

    /// A client's answer came back from its worker, `age` seconds after its
    /// request arrived, with the client still there to take it.
    mutating func answered(age: Double) {
        guard age.isFinite, age >= youngestAbandon else { return }
        Self.append(age, to: &lateAnswerAges, next: &nextLateAnswer)
        changed = true
    }

    private static func append(_ age: Double, to ring: inout [Double], next: inout Int) {
        if ring.count < evidenceCount {
            ring.append(age)
        } else {
            ring[next] = age
            next = (next + 1) % evidenceCount
        }
    }

    /// Seconds an answer may take at most (from the request's arrival) for
    /// its client to still be there, with the margin taken off; nil when
    /// the clients have shown no limit.
    mutating func waitBound(now: Instant) -> Double? {
        guard let lastAbandonAt else { return nil }
        if now >= lastAbandonAt + Self.memory {
            forget()
            return nil
        }
        if changed, computedAt.map({ now >= $0 + Self.recomputeInterval }) ?? true {
            changed = false
            computedAt = now
            patience = Self.weigh(abandonAges, lateAnswerAges, scratch: &scratch)
        }
        return patience.map { $0 * Self.margin }
    }

    private mutating func forget() {
        abandonAges.removeAll(keepingCapacity: true)
        lateAnswerAges.removeAll(keepingCapacity: true)
        nextAbandon = 0
        nextLateAnswer = 0
        youngestAbandon = .infinity
        lastAbandonAt = nil
        patience = nil
        changed = false
    }

    private static func weigh(_ abandons: [Double], _ lateAnswers: [Double], scratch: inout [Double]) -> Double? {
        guard abandons.count >= minimumAbandons else { return nil }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: abandons)
        let candidate = ServiceTimeEstimate.select(&scratch, rank: abandons.count / 5)
        let leftAfter = abandons.count { $0 >= candidate }
        let answeredAfter = lateAnswers.count { $0 >= candidate }
        guard leftAfter >= answeredAfter else { return nil }
        return candidate
    }
}
