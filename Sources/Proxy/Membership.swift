/// How the proxy and the supervisor talk, without either holding the
/// other's objects: the supervisor says who is in a pool (membership
/// events), the proxy says what happened at a worker (reports). The daemon
/// (Runtime) translates both ways; Proxy never imports Supervision.

/// A worker as the proxy knows it: the id the supervisor gave one process
/// (never reused), so a replacement on the same port is another worker.
package struct WorkerID: Hashable, Sendable, CustomStringConvertible {
    package let raw: Int

    package init(_ raw: Int) { self.raw = raw }

    package var description: String { "worker #\(raw)" }
}

/// The supervisor's side: a worker joins a pool when it is RUNNING and
/// ready, and leaves it the moment that stops being true.
package enum MembershipEvent: Equatable, Sendable {
    /// Requests may go to it at `port`. `probeSeconds`: the round trip of
    /// its last health probe on an idle worker, admission's floor for what
    /// a request costs before one was answered.
    case joined(WorkerID, name: String, port: Int, probeSeconds: Double?)
    /// Dead, stopped, unhealthy or gone: no new request, idle connections closed.
    case left(WorkerID)
    /// Out of the upstream; what it has in flight finishes.
    case draining(WorkerID)
}

/// Where a worker's reports go when the daemon attached one to it
/// (`ProxyServer.attach`): called directly, so a proxied request costs no
/// lookup by WorkerID on the supervisor's side (three per request were
/// ~2k instructions of ~27k). Without one, reports go to `report`.
package protocol WorkerReportSink: AnyObject {
    func inflightChanged(by change: Int)
    func served(seconds: Double?)
    func connectRefused()
}

/// The proxy's side: what the supervisor needs to know about a worker's
/// requests (drains wait for in-flight to reach 0, probes of a busy
/// single-threaded worker are not failures, max_requests recycles).
package enum WorkerReport: Equatable, Sendable {
    /// A request went to the worker (+1) or came back from it (-1),
    /// answered or not.
    case inflight(WorkerID, change: Int)
    /// A proxied request was answered, in `seconds` at the worker.
    case served(WorkerID, seconds: Double?)
    /// A worker in the pool refused a connection: probe it before it gets more.
    case connectRefused(WorkerID)
}
