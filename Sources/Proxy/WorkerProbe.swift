import System

/// A health probe of a worker in a proxy's upstream, carried by the pool's
/// own connections to that worker instead of a connection of its own.
///
/// Why: a worker that serves one connection at a time (Python's
/// `http.server`, any blocking server) stays on a keep-alive connection
/// until its peer closes it. The pool keeps such a connection to each
/// worker between requests, so a probe on a second connection waited in the
/// worker's accept backlog and timed out, and an idle pool of healthy
/// workers was restarted every few seconds. Through the pool, the probe
/// reuses the idle connection (or opens the one the pool then keeps),
/// holds one of the worker's `max_inflight` slots as a request does, and
/// when they are all taken waits for the next one that frees, ahead of
/// every queued request. A probe that waits out its timeout that way is
/// `busy`, not failed: the request holding the worker is `read_timeout`'s
/// business. With `max_inflight = 1` the worker never sees a second
/// connection from drover.
///
/// Not chosen: closing the worker connection after every answer when
/// `max_inflight = 1` (nginx's default without `keepalive`). That is a
/// socket, connect, getsockopt, four epoll_ctl and a close per request on
/// drover's one thread, plus a handshake and an accept the worker pays for,
/// to spare one probe every `health_interval`. Measured with one stdlib
/// `http.server` worker and `wrk -c1` (strace -c on drover): pooled 10.0
/// syscalls and 1550 answers/s, a connection per request 16.6 syscalls and
/// 810 answers/s. (Pooled needs the TCP_QUICKACK of UpstreamConnection, or
/// that worker's Nagle waits 40 ms per answer for a delayed ACK: 21/s.)
final class WorkerProbe: ProbeInFlight {
    private unowned let reactor: Reactor
    weak var slot: WorkerSlot?
    /// `GET path` with keep-alive: the connection goes back to the pool.
    let request: [UInt8]
    let timeout: Duration
    private var completion: ((ProbeOutcome) -> Void)?
    private var timer: TimerID?
    private let onCancel: (WorkerProbe) -> Void
    /// The exchange carrying it while it is on the wire.
    var exchange: Exchange?
    /// Sent on a pooled connection, which the worker may have closed just
    /// before: a close before any answer earns one try on a fresh one.
    var onPooledConnection = false
    var retried = false

    init(reactor: Reactor, slot: WorkerSlot, path: String, timeout: Duration,
         completion: @escaping (ProbeOutcome) -> Void, onCancel: @escaping (WorkerProbe) -> Void) {
        self.reactor = reactor
        self.slot = slot
        self.timeout = timeout
        self.completion = completion
        self.onCancel = onCancel
        request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(slot.port)\r\nUser-Agent: drover-health\r\n\r\n".utf8)
    }

    /// Starts (or restarts) the timeout: waiting for a slot and waiting for
    /// the answer are bounded separately, the second by the worker alone.
    func arm(_ expired: @escaping (WorkerProbe) -> Void) {
        reactor.cancel(timer)
        timer = reactor.schedule(after: timeout) { [weak self] in
            guard let self else { return }
            self.timer = nil
            expired(self)
        }
    }

    /// Reports the outcome, once; nothing after a cancel.
    func finish(_ outcome: ProbeOutcome) {
        reactor.cancel(timer)
        timer = nil
        guard let completion else { return }
        self.completion = nil
        completion(outcome)
    }

    /// The supervisor no longer wants it. One on the wire runs to its end
    /// (the answer is read and the connection kept); a waiting one stops.
    package func cancel() {
        completion = nil
        reactor.cancel(timer)
        timer = nil
        onCancel(self)
    }
}

extension ProxyServer {
    /// Probes worker `id` through this pool (WorkerProbe); nil when it is not
    /// in the upstream, to be probed on a connection of its own.
    package func probe(_ id: WorkerID, path: String, timeout: Duration,
                       completion: @escaping (ProbeOutcome) -> Void) -> ProbeInFlight? {
        guard let slot = pool.slot(for: id), slot.isMember, slot.waitingProbe == nil else { return nil }
        let probe = WorkerProbe(reactor: reactor, slot: slot, path: path, timeout: timeout,
                                completion: completion) { [unowned self] probe in self.stopWaiting(probe) }
        if slot.hasCapacity {
            sendProbe(probe, on: slot)
        } else {
            pool.waitForSlot(probe, on: slot)
            probe.arm { [unowned self] probe in
                self.stopWaiting(probe)
                probe.finish(.busy)
            }
        }
        return probe
    }

    func sendProbe(_ probe: WorkerProbe, on slot: WorkerSlot) {
        let exchange = Exchange(probe: probe)
        exchange.worker = slot
        exchange.phase = .dispatched
        exchange.dispatchedAt = .now
        slot.probesInFlight += 1
        probe.exchange = exchange
        probe.onPooledConnection = false
        let upstream: UpstreamConnection
        if !probe.retried, let pooled = takeIdle(slot, for: exchange) {
            upstream = pooled
            probe.onPooledConnection = true
        } else {
            do {
                upstream = try openUpstream(to: slot)
            } catch {
                endProbe(exchange)
                // Never from inside the supervisor's own call to `probe`.
                reactor.schedule(after: .zero) { probe.finish(.failed(error.description)) }
                return
            }
        }
        exchange.upstream = upstream
        upstream.send(exchange)
        probe.arm { [unowned self] probe in self.probeTimedOut(probe) }
    }

    /// The probe's answer is in; its connection goes back to the pool.
    func probeAnswered(_ exchange: Exchange, on upstream: UpstreamConnection, reusable: Bool) {
        let slot = exchange.worker
        endProbe(exchange)
        keepOrClose(upstream, for: slot, reusable: reusable)
        let status = exchange.status
        exchange.probe?.finish((200..<300).contains(status) ? .passed : .failed("status \(status)"))
        pool.drainQueue()
    }

    func probeFailed(_ exchange: Exchange, failure: UpstreamConnection.Failure) {
        let slot = exchange.worker
        endProbe(exchange)
        if let probe = exchange.probe {
            if case .closedBeforeResponse = failure, probe.onPooledConnection, !probe.retried, let slot, slot.hasCapacity {
                probe.retried = true
                return sendProbe(probe, on: slot)
            }
            probe.finish(.failed(Self.probeFailure(failure)))
        }
        pool.drainQueue()
    }

    private static func probeFailure(_ failure: UpstreamConnection.Failure) -> String {
        switch failure {
        case .connectFailed(let why): return "cannot connect: \(why)"
        case .connectTimedOut: return "no connection within connect_timeout"
        case .closedBeforeResponse(let why): return "\(why) before answering"
        case .readTimedOut: return "no answer within read_timeout"
        case .invalidResponse(let why): return why
        }
    }

    /// Timed out on the wire: its answer may still come, so the connection
    /// can carry nothing else and is closed.
    private func probeTimedOut(_ probe: WorkerProbe) {
        guard let exchange = probe.exchange else { return }
        let upstream = exchange.upstream
        endProbe(exchange)
        upstream?.abandon()
        probe.finish(.timedOut)
        pool.drainQueue()
    }

    /// The exchange no longer holds its slot.
    private func endProbe(_ exchange: Exchange) {
        exchange.upstream = nil
        exchange.phase = .done
        if exchange.probe?.exchange === exchange { exchange.probe?.exchange = nil }
        guard let slot = exchange.worker else { return }
        exchange.worker = nil
        slot.probesInFlight -= 1
    }

    private func stopWaiting(_ probe: WorkerProbe) {
        if let slot = probe.slot, slot.waitingProbe === probe { pool.stopWaiting(slot) }
    }
}
