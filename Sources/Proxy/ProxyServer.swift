import CSystem
import Config
import Glibc
import HTTP
import Logs
import System

/// One `[proxy:x]`: its listener, its client and worker connections, and
/// the pool of ready workers with its queue. Everything runs on the
/// reactor; membership follows the supervisor's state changes as they
/// happen (SIGCHLD, probe results, drain), never a polling interval.
package final class ProxyServer {
    package let config: ProxyConfig
    unowned let reactor: Reactor
    let log: EventLog
    package let metrics = ProxyMetrics()
    let pool: WorkerPool

    /// What /metrics and `status --json` show: the counters, and the
    /// clients' patience admission works with now.
    package var traffic: ProxyTraffic {
        var traffic = metrics.snapshot
        traffic.clientPatienceSeconds = pool.patienceBound() != nil ? pool.patience.patience : nil
        return traffic
    }
    /// Recycles workers past max_requests; set by the daemon.
    package var report: ((WorkerReport) -> Void)?

    let connectTimeout: Timeout
    let readTimeout: Timeout
    let clientTimeout: Timeout
    let keepaliveTimeout: Timeout
    let queueTimeout: Timeout
    let bodyLimits: HTTPLimits
    let rateLimiter: RateLimiter?
    private let accessLog: AccessLogWriter?
    var accessLogEnabled: Bool { accessLog != nil }

    private var acceptor: Acceptor?
    private var isTCP = true
    private var clients: [ObjectIdentifier: ProxyClientConnection] = [:]
    private var upstreams: [ObjectIdentifier: UpstreamConnection] = [:]
    package private(set) var isShuttingDown = false
    private var shutdownCompletion: (() -> Void)?
    private var inflightExchanges = 0
    /// Of those, the ones at a worker for a client that has left: a
    /// graceful shutdown does not wait for them.
    private var exchangesForNobody = 0
    /// Request bodies held in memory (read, waiting, or at a worker for a
    /// retry), all clients together, and their bound.
    private(set) var bufferedBodyBytes = 0
    var bodyBudget: Int
    private var requestIDs: SplitMix64
    private(set) var listeningPort: Int?
    /// The Date line of every answer written or forwarded without one.
    let dateField = ProxyDateField()

    package init(config: ProxyConfig, reactor: Reactor, log: EventLog, console: ConsoleWriter) throws(SystemError) {
        self.config = config
        self.reactor = reactor
        self.log = log
        pool = WorkerPool(config: config, metrics: metrics)
        connectTimeout = Timeout(config.connectTimeout)
        readTimeout = Timeout(config.readTimeout)
        clientTimeout = Timeout(config.clientTimeout)
        keepaliveTimeout = Timeout(config.keepaliveTimeout)
        queueTimeout = Timeout(config.queueTimeout)
        bodyLimits = HTTPLimits(maxHeaderBytes: 16 * 1024, maxBodyBytes: config.clientMaxBodySize)
        let (scaled, overflow) = config.clientMaxBodySize.multipliedReportingOverflow(by: 8)
        bodyBudget = max(256 << 20, overflow ? Int.max : scaled)
        rateLimiter = config.rateLimit.map(RateLimiter.init)
        accessLog = try config.accessLog.map { (settings) throws(SystemError) in try AccessLogWriter(settings, console: console) }
        requestIDs = SplitMix64(seed: cs_random_u64() ^ Instant.now.nanoseconds)
        pool.dispatch = { [unowned self] exchange, worker in self.dispatch(exchange, to: worker) }
        pool.clock = { [unowned reactor] in reactor.now }
        pool.scheduleReview = { [unowned self] delay in
            self.reactor.schedule(after: delay) { [weak pool = self.pool] in pool?.reviewTimerFired() }
        }
        pool.refuse = { [unowned self] exchange, reason, retryAfter in
            self.metrics.count(status: 503)
            self.finishRefused(exchange, status: 503, reason: reason, retryAfter: retryAfter)
        }
        pool.startProbe = { [unowned self] probe, worker in self.sendProbe(probe, on: worker) }
    }

    /// `Date: ...\r\n` for now on the loop's clock (reformatted at most once a second).
    var dateLine: [UInt8] { dateField.line(at: reactor.now) }

    // MARK: Listening

    package func open() throws(SystemError) {
        let fd: OwnedDescriptor
        switch config.listen {
        case .tcp(let host, let port):
            do throws(SystemError) {
                fd = try Listener.tcp(host: host, port: port, backlog: 4096)
            } catch {
                throw SystemError(error.call, errno: error.errno, context: "[proxy:\(config.name)] \(error.context ?? "\(config.listen)")")
            }
            listeningPort = Int(cs_local_port(fd.rawValue))
        case .unix(let path):
            fd = try Listener.unix(path: path, mode: 0o666)
            isTCP = false
        }
        acceptor = try Acceptor(listener: fd, reactor: reactor, onError: { [unowned self] message in
            self.log.warn("proxy:\(self.config.name)", message)
        }) { [unowned self] client, peer in
            self.accepted(client, peer: peer)
        }
    }

    private func accepted(_ socket: consuming OwnedDescriptor, peer: String) {
        guard !isShuttingDown else { return socket.close() }
        if isTCP { _ = cs_set_nodelay(socket.rawValue) }
        let client = ProxyClientConnection(stream: StreamConnection(socket: socket, reactor: reactor), proxy: self,
                                           peer: peer.isEmpty ? "127.0.0.1" : peer)
        do {
            try client.start()
        } catch {
            return
        }
        clients[ObjectIdentifier(client)] = client
        metrics.openClientConnections = clients.count
    }

    func clientReleased(_ client: ProxyClientConnection) {
        clients.removeValue(forKey: ObjectIdentifier(client))
        metrics.openClientConnections = clients.count
        checkShutdownDone()
    }

    func upstreamClosed(_ upstream: UpstreamConnection) {
        upstreams.removeValue(forKey: ObjectIdentifier(upstream))
        if let worker = upstream.worker { worker.idle.removeAll { $0 === upstream } }
        metrics.openUpstreamConnections = upstreams.count
    }

    // MARK: Membership

    /// The supervisor's word on who is in the upstream (Membership.swift).
    package func apply(_ event: MembershipEvent) {
        switch event {
        case .joined(let id, let name, let port, let probeSeconds):
            pool.add(id, name: name, port: port, probeSeconds: probeSeconds)
        case .left(let id), .draining(let id):
            pool.remove(id)
        }
    }

    // MARK: Exchanges

    func submit(_ exchange: Exchange) {
        inflightExchanges += 1
        if isShuttingDown {
            metrics.count(status: 503)
            return finishRefused(exchange, status: 503, reason: "shutting down", retryAfter: 1)
        }
        pool.submit(exchange)
    }

    private func dispatch(_ exchange: Exchange, to worker: WorkerSlot) {
        worker.inflight += 1
        report?(.inflight(worker.id, change: 1))
        exchange.worker = worker
        exchange.phase = .dispatched
        exchange.attempts += 1
        exchange.client?.dispatched(exchange)
        let upstream: UpstreamConnection
        if let pooled = takeIdle(worker, for: exchange) {
            upstream = pooled
        } else {
            do {
                upstream = try openUpstream(to: worker)
            } catch {
                return upstreamFailed(exchange, worker: worker, failure: .connectFailed(error.description))
            }
        }
        exchange.upstream = upstream
        upstream.send(exchange)
    }

    func openUpstream(to worker: WorkerSlot) throws(SystemError) -> UpstreamConnection {
        let upstream = try UpstreamConnection.open(.tcp(host: "127.0.0.1", port: worker.port),
                                                   reactor: reactor, proxy: self, worker: worker)
        upstreams[ObjectIdentifier(upstream)] = upstream
        metrics.openUpstreamConnections = upstreams.count
        return upstream
    }

    /// A pooled connection, checked: one the worker closed while idle is
    /// dropped (its close event normally removed it already; a request that
    /// is not safe to repeat, or a long-idle connection, costs one poll to
    /// rule out the close racing with our write).
    func takeIdle(_ worker: WorkerSlot, for exchange: Exchange) -> UpstreamConnection? {
        while let candidate = worker.idle.popLast() {
            guard candidate.stream.isOpen else { continue }
            let idleFor = Instant.now.duration(since: candidate.idleSince)
            if (!exchange.isIdempotent || idleFor > .seconds(1)) && cs_poll_readable(candidate.stream.fd.rawValue) != 0 {
                candidate.close()
                continue
            }
            return candidate
        }
        return nil
    }

    private func release(_ exchange: Exchange) {
        guard let worker = exchange.worker else { return }
        exchange.worker = nil
        worker.inflight -= 1
        report?(.inflight(worker.id, change: -1))
        pool.serviceEnded(exchange)
    }

    /// A connection whose exchange is done: back to its worker's idle pool, or closed.
    func keepOrClose(_ upstream: UpstreamConnection, for worker: WorkerSlot?, reusable: Bool) {
        if let worker, reusable, worker.isMember, upstream.stream.isOpen, worker.idle.count < 64 {
            worker.idle.append(upstream)
            upstream.parkIdle()
        } else if upstream.stream.isOpen {
            upstream.close()
        }
    }

    func exchangeCompleted(_ exchange: Exchange, on upstream: UpstreamConnection, reusable: Bool) {
        if exchange.isProbe { return probeAnswered(exchange, on: upstream, reusable: reusable) }
        let worker = exchange.worker
        exchange.upstream = nil
        release(exchange)
        keepOrClose(upstream, for: worker, reusable: reusable)
        var seconds: Double?
        if let dispatched = exchange.dispatchedAt {
            let measured = reactor.now.seconds(since: dispatched)
            metrics.upstreamTime.observe(measured)
            pool.observeService(seconds: measured)
            seconds = measured
        }
        metrics.count(status: exchange.status)
        if exchange.client != nil && !exchange.clientClosedWriteEarly { pool.answered(exchange) }
        finish(exchange, worker: worker?.name)
        exchange.client?.responseFinished(exchange)
        if let worker {
            worker.served += 1
            // The supervisor counts it (max_requests may recycle the worker now).
            report?(.served(worker.id, seconds: seconds))
        }
        pool.drainQueue()
    }

    func upstreamFailed(_ exchange: Exchange, worker: WorkerSlot?, failure: UpstreamConnection.Failure) {
        if exchange.isProbe { return probeFailed(exchange, failure: failure) }
        exchange.upstream = nil
        release(exchange)
        let name = worker?.name ?? "proxy:\(config.name)"
        let safe: Bool
        let status: Int
        let reason: String
        switch failure {
        case .connectFailed(let why):
            (safe, status, reason) = (true, 502, "cannot connect to \(name): \(why)")
            if let worker, worker.isMember { report?(.connectRefused(worker.id)) }
        case .connectTimedOut:
            (safe, status, reason) = (true, 504, "no connection to \(name) within connect_timeout")
        case .closedBeforeResponse(let why):
            (safe, status, reason) = (exchange.isIdempotent || config.retryNonIdempotent, 502, "\(name) \(why) before answering")
        case .readTimedOut:
            (safe, status, reason) = (false, 504, "no answer from \(name) within read_timeout")
        case .invalidResponse(let why):
            (safe, status, reason) = (false, 502, why)
        }
        if let worker { exchange.triedWorkers.append(ObjectIdentifier(worker)) }
        if safe, exchange.retried < config.retries, !exchange.clientGone, !isShuttingDown {
            exchange.retried += 1
            metrics.retries += 1
            log.info("proxy:\(config.name)", "\(reason); retrying on another worker (request \(exchange.requestID))")
            pool.resubmit(exchange)
            exchange.client?.leaveQueueIfHalfClosed(exchange)
        } else {
            if !exchange.clientGone { log.warn("proxy:\(config.name)", "\(status): \(reason) (request \(exchange.requestID))") }
            metrics.count(status: status)
            finishRefused(exchange, status: status, reason: reason, retryAfter: nil)
        }
        pool.drainQueue()
    }

    func exchangeAborted(_ exchange: Exchange, worker: WorkerSlot?) {
        if exchange.isProbe { return probeFailed(exchange, failure: .invalidResponse("the answer was cut off")) }
        exchange.upstream = nil
        release(exchange)
        metrics.count(status: exchange.status)
        finish(exchange, worker: worker?.name)
        exchange.client?.abortResponse()
        pool.drainQueue()
    }

    func queueTimedOut(_ exchange: Exchange) {
        pool.cancelQueued(exchange)
        metrics.queueTimeouts += 1
        metrics.count(status: 503)
        finishRefused(exchange, status: 503, reason: "no worker was free within queue_timeout", retryAfter: pool.retryAfter())
    }

    /// The client left: a queued request is dropped, logged as 499 (nginx's
    /// "client closed request") with its queue time; one at a worker runs to
    /// its end (the slot stays taken) and its answer is read and discarded.
    /// Once the worker has begun answering, it is no longer computing: a
    /// stream (SSE, tokens) could go on forever for nobody, so the worker's
    /// connection is closed, which tells it to stop, and its slot frees.
    func clientAbandoned(_ exchange: Exchange) {
        exchange.client = nil
        // Left while waiting for its answer: evidence of the clients'
        // patience (one that leaves in the middle of a stream is not).
        if exchange.phase == .queued || (exchange.phase == .dispatched && !exchange.clientClosedWriteEarly) {
            pool.clientLeft(exchange)
        }
        switch exchange.phase {
        case .queued:
            pool.cancelQueued(exchange)
            exchange.status = Self.clientClosedRequest
            metrics.count(status: Self.clientClosedRequest)
            finish(exchange, worker: nil)
        case .dispatched:
            exchange.answerForNobody = true
            exchangesForNobody += 1
            exchange.upstream?.clientDrained()
        case .responding:
            let worker = exchange.worker
            if let upstream = exchange.upstream {
                exchange.upstream = nil
                upstream.abandon()
            }
            release(exchange)
            finish(exchange, worker: worker?.name)
            pool.drainQueue()
        case .done:
            break
        }
    }

    /// The client closed its side while a worker has its request: it still
    /// gets the answer, but for the clients' patience it left at this age
    /// (a timeout closes the same way; a real half-close this early is rare).
    func clientClosedWrite(_ exchange: Exchange) {
        guard exchange.phase == .dispatched, !exchange.clientClosedWriteEarly else { return }
        exchange.clientClosedWriteEarly = true
        pool.clientLeft(exchange)
    }

    /// nginx's status for a request whose client left before it was answered.
    static let clientClosedRequest = 499

    private func finishRefused(_ exchange: Exchange, status: Int, reason: String, retryAfter: Int?) {
        exchange.status = status
        finish(exchange, worker: nil)
        exchange.client?.respondToExchange(exchange, status: status, reason: reason, retryAfter: retryAfter)
    }

    func reserveBodyBytes(_ count: Int) -> Bool {
        guard count > 0 else { return true }
        guard bufferedBodyBytes + count <= bodyBudget else { return false }
        bufferedBodyBytes += count
        return true
    }

    func releaseBodyBytes(_ count: Int) {
        bufferedBodyBytes = max(0, bufferedBodyBytes - count)
    }

    private func finish(_ exchange: Exchange, worker: String?) {
        guard exchange.phase != .done else { return }
        exchange.phase = .done
        releaseBodyBytes(exchange.bufferedBodyBytes)
        exchange.bufferedBodyBytes = 0
        inflightExchanges -= 1
        if exchange.answerForNobody { exchangesForNobody -= 1 }
        accessLog?.record(exchange, worker: worker, proxy: config.name)
        checkShutdownDone()
    }

    // MARK: Forwarded request

    /// The head that goes upstream: request line in origin-form, the
    /// client's fields as received minus hop-by-hop ones (and every field
    /// `Connection` names, removed before our own are added: H2; Host never
    /// is), a TRACE/OPTIONS Max-Forwards one less, then
    /// X-Forwarded-For/-Proto, X-Real-IP, X-Request-Id, Via. Content-Length
    /// and the blank line are added once the body is read. `requestID` is
    /// where the X-Request-Id value sits in `head` (the client's, or the one
    /// generated here): the exchange reads it from there when it logs, so no
    /// String is made per request.
    func forwardedHead(_ raw: UnsafeRawBufferPointer, _ scanner: HTTPHeadScanner, _ request: HTTPRequestHeadRanges,
                       peer: String) -> (head: [UInt8], requestID: Range<Int>) {
        var out: [UInt8] = []
        out.reserveCapacity(scanner.startLine.count + 256 + scanner.fields.count * 32)
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[request.method]))
        out.append(HTTPSyntax.space)
        if request.originTarget.isEmpty {
            out.append(UInt8(ascii: "/"))
        } else {
            if raw[request.originTarget.lowerBound] == UInt8(ascii: "?") { out.append(UInt8(ascii: "/")) }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[request.originTarget]))
        }
        HTTPHeadBytes.appendLiteral(" HTTP/1.1\r\n", to: &out)
        if let authority = request.authority {
            HTTPHeadBytes.appendLiteral("Host: ", to: &out)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[authority]))
            HTTPHeadBytes.appendCRLF(to: &out)
        } else if !request.hasHost {
            // An HTTP/1.0 client may leave Host out; the HTTP/1.1 request
            // drover sends must have one (RFC 9112 §3.2).
            HTTPHeadBytes.appendLiteral("Host: localhost\r\n", to: &out)
        }
        func isNominated(_ name: Range<Int>) -> Bool {
            request.nominated.contains { HTTPHeadBytes.equalsIgnoringCase(raw, name, $0) }
        }
        var forwardedFor: [Range<Int>] = []
        var requestID: Range<Int>?
        var kept = FieldLineRuns()
        for field in scanner.fields {
            if field.field.isHopByHop { continue }
            if !request.nominated.isEmpty && isNominated(field.name) { continue }
            switch field.field {
            case .contentLength, .expect, .xRealIP, .xForwardedProto:
                continue
            case .xForwardedFor:
                if !field.value.isEmpty { forwardedFor.append(field.value) }
                continue
            case .host where request.authority != nil:
                continue
            case .xRequestID:
                // One id goes upstream, the one drover logs: the client's
                // first usable one, else a generated one; never two.
                guard requestID == nil, !field.value.isEmpty, field.value.count <= 200 else { continue }
                // Written now, so where its value lands in `out` is known.
                kept.keep(field.line, into: &out, from: raw)
                kept.flush(into: &out, from: raw)
                let valueEnd = out.count - 2 - (field.line.upperBound - field.value.upperBound)
                requestID = (valueEnd - field.value.count)..<valueEnd
                continue
            case .maxForwards:
                // TRACE/OPTIONS go on with one less, in the field's place
                // (RFC 9110 §7.6.2; at 0 drover answered them itself).
                if let hops = request.maxForwards, hops > 0 {
                    kept.flush(into: &out, from: raw)
                    HTTPHeadBytes.appendLiteral("Max-Forwards: ", to: &out)
                    HTTPHeadBytes.appendDecimal(hops - 1, to: &out)
                    HTTPHeadBytes.appendCRLF(to: &out)
                    continue
                }
            default:
                break
            }
            kept.keep(field.line, into: &out, from: raw)
        }
        kept.flush(into: &out, from: raw)
        HTTPHeadBytes.appendLiteral("X-Forwarded-For: ", to: &out)
        for value in forwardedFor {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[value]))
            HTTPHeadBytes.appendLiteral(", ", to: &out)
        }
        out.append(contentsOf: peer.utf8)
        HTTPHeadBytes.appendLiteral("\r\nX-Real-IP: ", to: &out)
        out.append(contentsOf: peer.utf8)
        HTTPHeadBytes.appendLiteral("\r\nX-Forwarded-Proto: http\r\n", to: &out)
        if requestID == nil {
            HTTPHeadBytes.appendLiteral("X-Request-Id: ", to: &out)
            let start = out.count
            appendNewRequestID(to: &out)
            requestID = start..<out.count
            HTTPHeadBytes.appendCRLF(to: &out)
        }
        if request.version == .http10 {
            HTTPHeadBytes.appendLiteral("Via: 1.0 drover\r\nConnection: keep-alive\r\n", to: &out)
        } else {
            HTTPHeadBytes.appendLiteral("Via: 1.1 drover\r\nConnection: keep-alive\r\n", to: &out)
        }
        return (out, requestID!)
    }

    /// 128 random bits as 32 hex digits.
    private func appendNewRequestID(to out: inout [UInt8]) {
        HTTPHeadBytes.appendHex16(requestIDs.next(), to: &out)
        HTTPHeadBytes.appendHex16(requestIDs.next(), to: &out)
    }

    /// Request line, User-Agent and Referer for the access log.
    static func logFields(_ raw: UnsafeRawBufferPointer, _ scanner: HTTPHeadScanner) -> (line: String, agent: String, referer: String) {
        var agent = "", referer = ""
        for field in scanner.fields where field.field == .other {
            if HTTPHeadBytes.equalsLowercase(raw, field.name, "user-agent") { agent = HTTPHeadBytes.string(raw, field.value) }
            if HTTPHeadBytes.equalsLowercase(raw, field.name, "referer") { referer = HTTPHeadBytes.string(raw, field.value) }
        }
        return (HTTPHeadBytes.string(raw, scanner.startLine), agent, referer)
    }

    // MARK: Shutdown

    /// Stops accepting, closes idle clients, lets in-flight requests finish
    /// (queued ones too, while workers are there), then completes; answers
    /// for clients that have left are not waited for.
    package func beginShutdown(completion: @escaping () -> Void) {
        isShuttingDown = true
        shutdownCompletion = completion
        acceptor?.close()
        acceptor = nil
        if case .unix(let path) = config.listen { unlink(path) }
        for client in Array(clients.values) { client.closeWhenIdle() }
        checkShutdownDone()
    }

    /// Answers every queued request 503 now (shutdown: no worker will come for them).
    package func refuseQueued(reason: String) {
        for exchange in pool.takeAllQueued() {
            metrics.count(status: 503)
            finishRefused(exchange, status: 503, reason: reason, retryAfter: 1)
        }
    }

    /// shutdown_timeout passed: whatever is left is cut.
    package func forceClose() {
        refuseQueued(reason: "shutting down")
        for client in Array(clients.values) { client.forceClose() }
        for upstream in Array(upstreams.values) { upstream.close() }
    }

    private func checkShutdownDone() {
        guard isShuttingDown, let completion = shutdownCompletion else { return }
        // An answer nobody will read is not worth keeping drover up for: its
        // worker is stopped with the rest.
        guard inflightExchanges - exchangesForNobody <= 0, clients.isEmpty else { return }
        shutdownCompletion = nil
        for upstream in Array(upstreams.values) { upstream.close() }
        completion()
    }

    package func close() {
        acceptor?.close()
        acceptor = nil
        for client in Array(clients.values) { client.forceClose() }
        for upstream in Array(upstreams.values) { upstream.close() }
    }

    package func reopenLogs() { accessLog?.reopen() }

    /// Output queued for clients, all together (bounded by the watermarks).
    var clientPendingBytes: Int { clients.values.reduce(0) { $0 + $1.stream.pendingBytes } }
}
