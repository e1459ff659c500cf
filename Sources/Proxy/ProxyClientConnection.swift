import Glibc
import HTTP
import System

/// A client of the proxy listener. Reads one request at a time, whole (head
/// and body, de-chunked, bounded by client_max_body_size) before any worker
/// is involved, so a slow client never holds one; then waits for the
/// exchange to be answered and streams the answer back. Pipelined requests
/// stay in the input buffer until the one before is answered, so answers
/// go out in order. One deadline at a time: client_timeout while a request
/// arrives, queue_timeout while it waits for a worker, client_timeout again
/// while the worker's answer waits for this client to take what is queued
/// (drover stopped reading the worker meanwhile), keepalive_timeout between
/// requests.
final class ProxyClientConnection: StreamConnectionDelegate {
    private enum State {
        /// Between requests, or reading a head.
        case idle
        case readingBody
        /// An exchange is queued, at a worker, or streaming its answer.
        case waiting
        case closed
    }

    let stream: StreamConnection
    private unowned let proxy: ProxyServer
    let peer: String
    private var state: State = .idle
    private var input = ByteBuffer()
    private var scanner: HTTPHeadScanner
    private var requestTimerArmed = false
    private var requestStartedAt = Instant.now

    // The request being read.
    private var upstreamHead: [UInt8] = []
    private var head: HTTPRequestHeadRanges?
    private var bodyDecoder = HTTPBodyDecoder(framing: .none, limits: HTTPLimits(), boundsBody: true)
    private var body: [UInt8] = []
    private var pendingRequestID = 0..<0
    private var pendingLogFields: (line: String, agent: String, referer: String) = ("", "", "")
    /// A TRACE/OPTIONS with Max-Forwards: 0, answered here once its body is read.
    private var maxForwardsAnswer: ProxyMaxForwardsAnswer?
    /// `stream.bytesTaken` when client_timeout was armed for a waiting answer.
    private var drainMark = 0

    private(set) var exchange: Exchange?
    /// Body bytes counted against the proxy's budget, until handed to an exchange.
    private var reservedBodyBytes = 0
    private var keepAliveAfterResponse = true
    private var closeDelimitedResponse = false
    private(set) var requestsServed = 0

    init(stream: StreamConnection, proxy: ProxyServer, peer: String) {
        self.stream = stream
        self.proxy = proxy
        self.peer = peer
        // The request line has its own bound (414), above RFC 9112's 8000
        // octets; the whole head is bounded by max_header_size (431).
        scanner = HTTPHeadScanner(limits: .init(maxHeadBytes: proxy.config.maxHeaderSize, maxStartLineBytes: 12 * 1024,
                                            maxFields: 100, tooLargeStatus: 431))
        stream.delegate = self
    }

    func start() throws(SystemError) {
        try stream.start()
        stream.setDeadline(after: proxy.clientTimeout)
    }

    var isWritable: Bool { stream.isWritable }
    var isIdle: Bool { state == .idle && input.isEmpty }

    // MARK: Reading requests

    func connection(_ connection: StreamConnection, received bytes: UnsafeRawBufferPointer) {
        input.append(bytes)
        processInput()
    }

    /// Set while `processInput` runs: an answer finished synchronously inside
    /// it (a 503 from a full queue) lets the loop go on to the next pipelined
    /// request instead of recursing once per request.
    private var processing = false

    private func processInput() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while state != .closed {
            switch state {
            case .idle:
                guard !input.isEmpty else { return }
                if !requestTimerArmed {
                    requestTimerArmed = true
                    requestStartedAt = proxy.reactor.now
                    stream.setDeadline(after: proxy.clientTimeout)
                }
                var outcome = HTTPHeadScanner.Outcome.incomplete
                var failure: HTTPParseError?
                input.withReadableBytes { raw in
                    do throws(HTTPParseError) { outcome = try scanner.scan(raw) } catch { failure = error }
                }
                if let failure { return reject(failure) }
                guard case .complete(let length) = outcome else { return }
                if !beginRequest(headLength: length) { return }
            case .readingBody:
                guard !input.isEmpty else { return }
                let before = body.count
                let (consumed, outcome) = input.withReadableBytes { raw in
                    bodyDecoder.decode(raw, from: 0) { payload in body.append(contentsOf: payload) }
                }
                input.consume(consumed)
                // Bodies wait in memory until answered: all of them together
                // stay within the proxy's budget, or the request is refused.
                if !proxy.reserveBodyBytes(body.count - before) {
                    proxy.releaseBodyBytes(before)
                    reservedBodyBytes = 0
                    body = []
                    proxy.metrics.count(status: 503)
                    return sendError(status: 503, reason: "too many request bodies buffered; try again", retryAfter: 1, close: true)
                }
                reservedBodyBytes = body.count
                switch outcome {
                case .needMore: return
                case .failure(let error): return reject(error)
                case .end: submit()
                }
            case .waiting:
                // Pipelined input waits; past a bound, stop reading (TCP pushes back).
                if input.readableBytes > 64 * 1024 { stream.setReading(false) }
                return
            case .closed:
                return
            }
        }
    }

    /// Parses the head, answers what drover answers itself, and prepares
    /// the upstream copy. False when the connection is being closed.
    private func beginRequest(headLength: Int) -> Bool {
        var parsed: HTTPRequestHeadRanges?
        var failure: HTTPParseError?
        input.withReadableBytes { raw in
            do throws(HTTPParseError) {
                parsed = try HTTPRequestHeadRanges.parse(raw, scanner, maxBody: proxy.config.clientMaxBodySize)
            } catch {
                failure = error
            }
        }
        guard let request = parsed else {
            reject(failure ?? HTTPParseError(status: 400, reason: "unreadable request head"))
            return false
        }
        head = request
        keepAliveAfterResponse = request.keepAlive
        if let limiter = proxy.rateLimiter, !limiter.allow(peer) {
            input.consume(headLength)
            proxy.metrics.count(status: 429)
            sendError(status: 429, reason: "rate limit exceeded for \(peer)", retryAfter: 1, close: true)
            return false
        }
        input.withReadableBytes { raw in
            if request.maxForwards == 0 {
                // RFC 9110 §7.6.2: not forwarded; drover is the final recipient.
                maxForwardsAnswer = ProxyMaxForwardsAnswer(raw, scanner, request)
            } else {
                let built = proxy.forwardedHead(raw, scanner, request, peer: peer)
                upstreamHead = built.head
                pendingRequestID = built.requestID
            }
            if proxy.accessLogEnabled { pendingLogFields = ProxyServer.logFields(raw, scanner) }
        }
        input.consume(headLength)
        scanner.reset()
        body.removeAll(keepingCapacity: body.capacity <= 64 * 1024)
        switch request.framing {
        case .none:
            submit()
        case .length(let n):
            bodyDecoder = HTTPBodyDecoder(framing: .length(n), limits: proxy.bodyLimits, boundsBody: true)
            // Not the declared length: a client announcing 10 MB and sending
            // nothing must not cost 10 MB.
            body.reserveCapacity(min(n, 64 * 1024))
            state = .readingBody
        case .chunked:
            bodyDecoder = HTTPBodyDecoder(framing: .chunked, limits: proxy.bodyLimits, boundsBody: true)
            state = .readingBody
        }
        if state == .readingBody && request.expectsContinue && request.version == .http11 && input.isEmpty {
            // The client waits for this before sending the body (H23).
            stream.enqueue(Array("HTTP/1.1 100 Continue\r\n".utf8) + proxy.dateLine + [HTTPSyntax.cr, HTTPSyntax.lf])
            stream.flush()
        }
        return true
    }

    private func submit() {
        guard let request = head else { return }
        head = nil
        if let answer = maxForwardsAnswer { return answerMaxForwards(answer, clientIsHTTP10: request.version == .http10) }
        var bytes = upstreamHead
        upstreamHead = []
        if !body.isEmpty || request.framing != .none {
            bytes.append(contentsOf: "Content-Length: \(body.count)\r\n\r\n".utf8)
            bytes.append(contentsOf: body)
        } else {
            HTTPHeadBytes.appendCRLF(to: &bytes)
        }
        body.removeAll(keepingCapacity: body.capacity <= 64 * 1024)
        let exchange = Exchange(client: self, request: bytes, isIdempotent: request.isIdempotent, isHead: request.isHead,
                                clientIsHTTP10: request.version == .http10, requestIDRange: pendingRequestID,
                                receivedAt: requestStartedAt)
        if proxy.accessLogEnabled {
            exchange.clientAddress = peer
            exchange.requestLine = pendingLogFields.line
            exchange.userAgent = pendingLogFields.agent
            exchange.referer = pendingLogFields.referer
        }
        exchange.bufferedBodyBytes = reservedBodyBytes
        reservedBodyBytes = 0
        self.exchange = exchange
        state = .waiting
        requestTimerArmed = false
        stream.clearDeadline()
        proxy.submit(exchange)
    }

    /// A TRACE/OPTIONS that stops here: answered, its body dropped, and on
    /// to the next request (or closed) as after any answer.
    private func answerMaxForwards(_ answer: ProxyMaxForwardsAnswer, clientIsHTTP10: Bool) {
        maxForwardsAnswer = nil
        body.removeAll(keepingCapacity: body.capacity <= 64 * 1024)
        proxy.releaseBodyBytes(reservedBodyBytes)
        reservedBodyBytes = 0
        requestTimerArmed = false
        if proxy.isShuttingDown || stream.peerClosedWrite { keepAliveAfterResponse = false }
        let connection = !keepAliveAfterResponse ? "Connection: close\r\n" : (clientIsHTTP10 ? "Connection: keep-alive\r\n" : "")
        stream.enqueue(answer.bytes(date: proxy.dateLine, connection: connection))
        proxy.metrics.count(status: 200)
        requestsServed += 1
        if !keepAliveAfterResponse {
            state = .closed
            stream.closeAfterFlushing()
            return
        }
        state = .idle
        stream.flush()
        stream.setDeadline(after: proxy.keepaliveTimeout)
    }

    /// The pool put the exchange in its queue: bound the wait.
    func queued(_ exchange: Exchange) {
        guard exchange === self.exchange else { return }
        stream.setDeadline(after: proxy.queueTimeout)
    }

    /// A worker took it: no client deadline while it computes (read_timeout
    /// bounds the worker; a slow reader of the answer is dropped only once
    /// it takes nothing for client_timeout: `awaitDrain`).
    func dispatched(_ exchange: Exchange) {
        guard exchange === self.exchange else { return }
        stream.clearDeadline()
    }

    // MARK: Answers

    /// The Connection field for the answer, settling whether this
    /// connection carries another request.
    func connectionField(closeDelimited: Bool) -> StaticString {
        closeDelimitedResponse = closeDelimited
        if closeDelimited || proxy.isShuttingDown || stream.peerClosedWrite { keepAliveAfterResponse = false }
        if !keepAliveAfterResponse { return "Connection: close\r\n" }
        return exchange?.clientIsHTTP10 == true ? "Connection: keep-alive\r\n" : ""
    }

    func sendInterim(copying bytes: UnsafeRawBufferPointer) {
        stream.enqueue(copying: bytes)
    }

    func sendResponseHead(copying bytes: UnsafeRawBufferPointer) {
        stream.enqueue(copying: bytes)
    }

    func sendBody(copying bytes: UnsafeRawBufferPointer) { stream.enqueue(copying: bytes) }

    /// One chunk of a chunked answer: size line, the bytes, CRLF.
    func sendChunk(copying payload: UnsafeRawBufferPointer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 18) { line in
            // Hex digits of the size, most significant first, then CRLF.
            var digits = 0
            var rest = payload.count
            repeat {
                digits += 1
                rest >>= 4
            } while rest > 0
            rest = payload.count
            for index in stride(from: digits - 1, through: 0, by: -1) {
                let digit = UInt8(truncatingIfNeeded: rest & 0xF)
                line[index] = digit < 10 ? 0x30 + digit : 0x61 + digit - 10
                rest >>= 4
            }
            line[digits] = HTTPSyntax.cr
            line[digits + 1] = HTTPSyntax.lf
            stream.enqueue(copying: UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(line)[0..<(digits + 2)]))
        }
        stream.enqueue(copying: payload)
        Self.crlf.withUnsafeBytes { stream.enqueue(copying: $0) }
    }

    /// The end of a chunked answer: the last chunk and an empty trailer section.
    func sendLastChunk() {
        Self.lastChunk.withUnsafeBytes { stream.enqueue(copying: $0) }
    }

    private static let crlf: [UInt8] = [HTTPSyntax.cr, HTTPSyntax.lf]
    private static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    func flushOutput() { stream.flush() }

    /// The exchange is answered in full: on to the next request, or close.
    func responseFinished(_ finished: Exchange) {
        guard finished === exchange else { return }
        exchange = nil
        requestsServed += 1
        guard state != .closed else { return }
        if !keepAliveAfterResponse || proxy.isShuttingDown || (stream.peerClosedWrite && input.isEmpty) {
            state = .closed
            stream.closeAfterFlushing()
            return
        }
        state = .idle
        stream.flush()
        stream.setReading(true)
        stream.setDeadline(after: proxy.keepaliveTimeout)
        processInput()
    }

    /// An answer drover makes itself for the current exchange (502/503/504).
    func respondToExchange(_ exchange: Exchange, status: Int, reason: String, retryAfter: Int?) {
        guard exchange === self.exchange, state != .closed else { return }
        exchange.status = status
        let close = !keepAliveAfterResponse || proxy.isShuttingDown || stream.peerClosedWrite
        if close { keepAliveAfterResponse = false }
        stream.enqueue(ProxyErrorResponse.bytes(status: status, reason: reason, date: proxy.dateLine, close: close, retryAfter: retryAfter,
                                                requestID: exchange.requestID, omitBody: exchange.isHead,
                                                keepAliveHeader: exchange.clientIsHTTP10 && !close))
        stream.flush()
        responseFinished(exchange)
    }

    /// The worker failed after part of the answer went out: the client must
    /// not take it for a whole one (RST, no final chunk).
    func abortResponse() {
        guard state != .closed else { return }
        state = .closed
        exchange = nil
        stream.flush()
        stream.abort()
    }

    /// A request drover refuses before any worker sees it: answer, then
    /// close (its framing cannot be trusted, or the client must slow down).
    private func reject(_ error: HTTPParseError) {
        proxy.metrics.count(status: error.status)
        sendError(status: error.status, reason: error.reason, retryAfter: nil, close: true)
    }

    private func sendError(status: Int, reason: String, retryAfter: Int?, close: Bool) {
        guard state != .closed else { return }
        state = .closed
        stream.enqueue(ProxyErrorResponse.bytes(status: status, reason: reason, date: proxy.dateLine, close: true,
                                                retryAfter: retryAfter))
        // Half-close, then close once the client is done or after a moment:
        // closing with unread input would turn the answer into a reset.
        stream.shutdownWriteAfterFlushing()
        stream.setReading(true)
        lingering = true
        stream.setDeadline(after: .seconds(2))
    }

    private var lingering = false

    // MARK: Connection events

    func connectionReadEOF(_ connection: StreamConnection) {
        if lingering { return finishLinger() }
        switch state {
        case .idle where input.isEmpty && !requestTimerArmed:
            closeNow()
        case .idle, .readingBody:
            // Cut off inside a request: it can never complete.
            closeNow()
        case .waiting:
            if exchange?.phase == .queued {
                // FIN while queued: the client has left (nginx's rule; curl
                // -m and every client timeout close this way). Its request
                // is dropped before any worker spends time on it.
                clientLeft()
                stream.close()
            } else {
                // Half-close once a worker has it: the client still gets
                // its whole answer (then we close).
                keepAliveAfterResponse = false
                if let exchange { proxy.clientClosedWrite(exchange) }
            }
        case .closed:
            break
        }
    }

    /// A retry put the exchange back in the queue: a client that half-closed
    /// meanwhile has left by the rule above.
    func leaveQueueIfHalfClosed(_ queued: Exchange) {
        guard queued === exchange, queued.phase == .queued, stream.peerClosedWrite, state != .closed else { return }
        clientLeft()
        stream.close()
    }

    func connectionWriteDrained(_ connection: StreamConnection) {
        if let phase = exchange?.phase, phase != .queued { stream.clearDeadline() }
        exchange?.upstream?.clientDrained()
    }

    /// The worker's answer waits for this client to take what is queued
    /// (the upstream stopped reading the worker): from now that is the
    /// client's time, bounded by client_timeout, and never read_timeout's.
    func awaitDrain() {
        guard state == .waiting else { return }
        drainMark = stream.bytesTaken
        stream.setDeadline(after: proxy.clientTimeout)
    }

    /// client_timeout passed with the answer waiting: a client that took
    /// some bytes meanwhile is slow, not stalled (another period); one
    /// that took none is cut off, and the log says it was the client.
    private func drainDeadlinePassed(_ exchange: Exchange) {
        if stream.bytesTaken != drainMark { return awaitDrain() }
        proxy.log.warn("proxy:\(proxy.config.name)",
                       "client \(peer) took nothing of the answer for client_timeout; closing its connection (request \(exchange.requestID))")
        stream.abort()
    }

    func connectionFailed(_ connection: StreamConnection, errno: Int32) {
        if lingering { return finishLinger() }
        clientLeft()
    }

    func connectionDeadline(_ connection: StreamConnection) {
        if lingering { return finishLinger() }
        switch state {
        case .idle where !requestTimerArmed:
            // keepalive_timeout between requests.
            closeNow()
        case .idle, .readingBody:
            proxy.metrics.count(status: 408)
            sendError(status: 408, reason: "request not received within client_timeout", retryAfter: nil, close: true)
        case .waiting:
            guard let exchange else { break }
            // Queued: queue_timeout. At a worker, only awaitDrain arms one.
            if exchange.phase == .queued {
                proxy.queueTimedOut(exchange)
            } else {
                drainDeadlinePassed(exchange)
            }
        case .closed:
            break
        }
    }

    private func finishLinger() {
        lingering = false
        stream.close()
    }

    private func closeNow() {
        state = .closed
        stream.close()
    }

    func connectionDidClose(_ connection: StreamConnection) {
        if state != .closed || exchange != nil { clientLeft() }
        proxy.releaseBodyBytes(reservedBodyBytes)
        reservedBodyBytes = 0
        proxy.clientReleased(self)
    }

    /// The client is gone (reset, error): a queued request is dropped; one at
    /// a worker runs to its end and the answer is discarded.
    private func clientLeft() {
        let wasWaiting = exchange
        state = .closed
        exchange = nil
        if let wasWaiting {
            proxy.metrics.clientAborts += 1
            proxy.clientAbandoned(wasWaiting)
        }
    }

    /// Shutdown: close now when between requests, else after the answer.
    func closeWhenIdle() {
        if state == .idle && input.isEmpty && exchange == nil { return closeNow() }
        keepAliveAfterResponse = false
    }

    func forceClose() {
        lingering = false
        if state != .closed { clientLeft() }
        stream.close()
    }
}
