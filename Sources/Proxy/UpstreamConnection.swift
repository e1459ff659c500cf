import CSystem
import Glibc
import HTTP
import System

/// Where a worker listens.
enum UpstreamAddress: Equatable {
    case tcp(host: String, port: Int)
    case unix(path: String)
}

/// One connection from the proxy to a worker, carrying one exchange at a
/// time and kept in the worker's idle pool between them. It parses the
/// response head in place, re-frames the body for the client (length kept,
/// chunked or close-delimited passed as chunks, or raw to an HTTP/1.0
/// client) and streams it with backpressure: when the client's output is
/// above its high watermark, this socket stops being read. While it is
/// paused so, read_timeout does not run (the worker is not silent, drover
/// is not listening); the client's client_timeout bounds the wait instead.
final class UpstreamConnection: StreamConnectionDelegate {
    enum Failure {
        /// The connect failed or timed out: nothing was sent, always safe to retry.
        case connectFailed(String)
        case connectTimedOut
        /// Closed or reset before any response byte (the request may have run).
        case closedBeforeResponse(String)
        case readTimedOut
        /// The response could not be trusted (502) before anything reached the client.
        case invalidResponse(String)
    }

    let stream: StreamConnection
    private unowned let proxy: ProxyServer
    weak var worker: WorkerSlot?
    private(set) var exchange: Exchange?
    private(set) var served = 0
    var idleSince = Instant.now

    private var input = ByteBuffer()
    private var scanner: HTTPHeadScanner
    private var head: ProxyResponseHead?
    private var body = HTTPBodyDecoder(framing: .none, limits: HTTPLimits(), boundsBody: false)
    private var responseStarted = false
    private var chunkedToClient = false
    private var reusable = true
    private var pausedForClient = false
    /// The connect completed (a failure before that is a refused connect).
    private var connected: Bool
    private var isTCP = false
    /// The response head as the client gets it, rebuilt in place for each
    /// answer (the client's connection copies it into its output).
    private var headOut: [UInt8] = []

    init(stream: StreamConnection, proxy: ProxyServer, worker: WorkerSlot) {
        self.stream = stream
        self.proxy = proxy
        self.worker = worker
        connected = stream.state == .open
        scanner = HTTPHeadScanner(limits: .init(maxHeadBytes: 64 * 1024, maxStartLineBytes: 8 * 1024,
                                            maxFields: 256, tooLargeStatus: 502))
        stream.delegate = self
    }

    static func open(_ address: UpstreamAddress, reactor: Reactor, proxy: ProxyServer, worker: WorkerSlot) throws(SystemError) -> UpstreamConnection {
        var inProgress: Int32 = 0
        let raw: Int32
        switch address {
        case .tcp(let host, let port): raw = cs_connect_tcp(host, Int32(port), &inProgress)
        case .unix(let path): raw = cs_connect_unix(path, &inProgress)
        }
        if raw < 0 { throw SystemError("connect", context: "\(worker.name)") }
        let stream = StreamConnection(socket: OwnedDescriptor(adopting: raw), reactor: reactor, connecting: inProgress != 0)
        let connection = UpstreamConnection(stream: stream, proxy: proxy, worker: worker)
        if case .tcp = address { connection.isTCP = true }
        try stream.start()
        return connection
    }

    var isConnecting: Bool { stream.state == .connecting }

    /// Sends an exchange's request (queued until the connect completes).
    func send(_ exchange: Exchange) {
        self.exchange = exchange
        responseStarted = false
        head = nil
        reusable = true
        chunkedToClient = false
        scanner.reset()
        input.clear()
        stream.setReading(true)
        stream.enqueue(exchange.request)
        if stream.state == .connecting {
            stream.setDeadline(after: proxy.connectTimeout)
        } else {
            stream.flush()
            stream.setDeadline(after: proxy.readTimeout)
        }
    }

    /// An idle pooled connection: watch for the worker closing it.
    func parkIdle() {
        exchange = nil
        idleSince = .now
        stream.setReading(true)
        stream.setDeadline(after: proxy.keepaliveTimeout)
    }

    func close() {
        stream.close()
    }

    func connectionDidClose(_ connection: StreamConnection) {
        proxy.upstreamClosed(self)
    }

    // MARK: StreamConnectionDelegate

    func connectionConnected(_ connection: StreamConnection) {
        connected = true
        if exchange != nil { stream.setDeadline(after: proxy.readTimeout) }
    }

    func connection(_ connection: StreamConnection, received bytes: UnsafeRawBufferPointer) {
        guard let exchange else {
            // An idle connection must stay silent: bytes or EOF mean it is done.
            return close()
        }
        responseStarted = true
        stream.setDeadline(after: proxy.readTimeout)
        if head == nil {
            input.append(bytes)
            parseHeads(exchange)
        } else {
            forwardBody(bytes, exchange)
        }
        exchange.client?.flushOutput()
        if stream.isOpen, let client = exchange.client, !client.isWritable, !pausedForClient {
            pausedForClient = true
            stream.setReading(false)
            stream.clearDeadline()
            client.awaitDrain()
        }
        if isTCP, self.exchange != nil, stream.isOpen {
            // More of the answer is to come. A worker that writes it in
            // pieces with Nagle on (Python's http.server: the head, then the
            // body) sends the next piece only once this one is acknowledged,
            // and a kernel that delays that ACK costs 40 ms per answer on a
            // kept-alive connection. One setsockopt, and only for answers
            // that arrive in pieces.
            _ = cs_set_quickack(stream.fd.rawValue)
        }
    }

    private func parseHeads(_ exchange: Exchange) {
        while head == nil {
            let length: Int, parsed: ProxyResponseHead
            switch scanHead(requestIsHead: exchange.isHead) {
            case .failure(let error): return invalid(error.reason)
            case .success(nil): return
            case .success(let whole?): (length, parsed) = whole
            }
            if parsed.isInterim {
                if parsed.status == 101 { return invalid("101 Switching Protocols: upgrades are not proxied") }
                // 100 answers an Expect the proxy handled itself; other 1xx
                // (103 Early Hints) reach HTTP/1.1 clients only (RFC 9110 §15.2).
                if parsed.status != 100, !exchange.clientIsHTTP10, let client = exchange.client {
                    input.withReadableBytes { buildResponseHead($0, parsed, length: length, final: false) }
                    headOut.withUnsafeBytes { client.sendInterim(copying: $0) }
                }
                input.consume(length)
                scanner.reset()
                continue
            }
            head = parsed
            exchange.status = parsed.status
            exchange.respondedAt = .now
            exchange.phase = .responding
            if !parsed.reusable { reusable = false }
            input.withReadableBytes { buildResponseHead($0, parsed, length: length, final: true) }
            input.consume(length)
            if let client = exchange.client { headOut.withUnsafeBytes { client.sendResponseHead(copying: $0) } }
            switch parsed.framing {
            case .none: body = HTTPBodyDecoder(framing: .none, limits: HTTPLimits(), boundsBody: false)
            case .length(let n): body = HTTPBodyDecoder(framing: .length(n), limits: HTTPLimits(), boundsBody: false)
            case .chunked: body = HTTPBodyDecoder(framing: .chunked, limits: HTTPLimits(), boundsBody: false)
            case .untilClose: body = HTTPBodyDecoder(framing: .untilClose, limits: HTTPLimits(), boundsBody: false)
            }
            if parsed.framing == .none {
                // R2: body bytes after a bodiless answer break the framing.
                if !input.isEmpty { reusable = false }
                input.clear()
                return complete(exchange)
            }
            if !input.isEmpty {
                // Moved out, not copied (a copy made clearing `input`
                // allocate a new buffer per answer): forwarding may finish
                // the exchange and send the next one here, which clears
                // `input`. Its storage comes back afterwards for reuse.
                var rest = ByteBuffer()
                swap(&rest, &input)
                rest.withReadableBytes { forwardBody($0, exchange) }
                if input.isEmpty {
                    rest.clear()
                    input = rest
                }
            }
            return
        }
    }

    /// The next head in the input, once whole, read: nil while it is not.
    private func scanHead(requestIsHead: Bool) -> Result<(length: Int, head: ProxyResponseHead)?, HTTPParseError> {
        var found: Result<(length: Int, head: ProxyResponseHead)?, HTTPParseError> = .success(nil)
        input.withReadableBytes { raw in
            do throws(HTTPParseError) {
                guard case .complete(let length) = try scanner.scan(raw) else { return }
                found = .success((length, try ProxyResponseHead.parse(raw, scanner, requestIsHead: requestIsHead)))
            } catch {
                found = .failure(error)
            }
        }
        return found
    }

    private func closeDelimitedToClient(_ head: ProxyResponseHead, _ exchange: Exchange) -> Bool {
        switch head.framing {
        case .none, .length: return false
        case .chunked, .untilClose: return exchange.clientIsHTTP10
        }
    }

    /// The head the client gets, into `headOut`: our status line, our Date
    /// when the worker sent none, the worker's fields minus hop-by-hop and
    /// framing ones, then our framing and connection fields.
    private func buildResponseHead(_ raw: UnsafeRawBufferPointer, _ head: ProxyResponseHead, length: Int, final: Bool) {
        var out = headOut
        headOut = []
        defer { headOut = out }
        out.removeAll(keepingCapacity: out.capacity <= 16 * 1024)
        out.reserveCapacity(length + 64)
        HTTPHeadBytes.appendLiteral("HTTP/1.1 ", to: &out)
        // The status and reason with the status line's CRLF.
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[head.statusAndReason.lowerBound..<(head.statusAndReason.upperBound + 2)]))
        // A recipient with a clock adds the Date a forwarded answer lacks (RFC 9110 §6.6.1).
        if !head.hasDate { out.append(contentsOf: proxy.dateLine) }
        var kept = FieldLineRuns()
        for field in scanner.fields {
            if field.field.isHopByHop { continue }
            if field.field == .contentLength && !(head.passContentLength || !final) { continue }
            if !head.nominated.isEmpty && head.nominated.contains(where: { HTTPHeadBytes.equalsIgnoringCase(raw, field.name, $0) }) {
                continue
            }
            kept.keep(field.line, into: &out, from: raw)
        }
        kept.flush(into: &out, from: raw)
        if final, let exchange {
            switch head.framing {
            case .none: if head.emptyByLength { HTTPHeadBytes.appendLiteral("Content-Length: 0\r\n", to: &out) }
            case .length(let n):
                HTTPHeadBytes.appendLiteral("Content-Length: ", to: &out)
                HTTPHeadBytes.appendDecimal(n, to: &out)
                HTTPHeadBytes.appendCRLF(to: &out)
            case .chunked, .untilClose:
                if !exchange.clientIsHTTP10 {
                    chunkedToClient = true
                    HTTPHeadBytes.appendLiteral("Transfer-Encoding: chunked\r\n", to: &out)
                }
            }
            if let client = exchange.client {
                HTTPHeadBytes.appendLiteral(client.connectionField(closeDelimited: closeDelimitedToClient(head, exchange)), to: &out)
            }
        }
        HTTPHeadBytes.appendCRLF(to: &out)
    }

    private func forwardBody(_ bytes: UnsafeRawBufferPointer, _ exchange: Exchange) {
        let client = exchange.client
        let chunked = chunkedToClient
        let (consumed, outcome) = body.decode(bytes, from: 0) { payload in
            guard let client, !payload.isEmpty else { return }
            exchange.bytesToClient += payload.count
            if chunked {
                client.sendChunk(copying: payload)
            } else {
                client.sendBody(copying: payload)
            }
        }
        switch outcome {
        case .needMore:
            return
        case .failure(let error):
            // The client has the head already: it must not see a clean end.
            proxy.log.warn(worker?.name ?? "proxy", "invalid response body: \(error.reason)")
            return abortMidResponse()
        case .end:
            if consumed < bytes.count { reusable = false }
            if chunked { client?.sendLastChunk() }
            complete(exchange)
        }
    }

    private func complete(_ exchange: Exchange) {
        stream.clearDeadline()
        served += 1
        self.exchange = nil
        if pausedForClient {
            pausedForClient = false
            stream.setReading(true)
        }
        let keep = reusable && stream.isOpen && !stream.peerClosedWrite
        proxy.exchangeCompleted(exchange, on: self, reusable: keep)
    }

    /// The client left in the middle of the answer: drop this connection
    /// without reporting anything further.
    func abandon() {
        exchange = nil
        stream.close()
    }

    /// The client drained its output below the low watermark: read on.
    func clientDrained() {
        guard pausedForClient, stream.isOpen else { return }
        pausedForClient = false
        stream.setReading(true)
        if exchange != nil { stream.setDeadline(after: proxy.readTimeout) }
    }

    private func invalid(_ reason: String) {
        guard let exchange else { return }
        self.exchange = nil
        stream.close()
        proxy.upstreamFailed(exchange, worker: worker, failure: .invalidResponse(reason))
    }

    private func abortMidResponse() {
        guard let exchange else { return }
        self.exchange = nil
        stream.close()
        proxy.exchangeAborted(exchange, worker: worker)
    }

    func connectionReadEOF(_ connection: StreamConnection) {
        guard let exchange else { return close() }
        if head == nil {
            self.exchange = nil
            stream.close()
            if responseStarted {
                return proxy.upstreamFailed(exchange, worker: worker, failure: .invalidResponse("connection closed inside the response head"))
            }
            return proxy.upstreamFailed(exchange, worker: worker, failure: .closedBeforeResponse("closed the connection"))
        }
        if body.endsAtClose {
            reusable = false
            if chunkedToClient { exchange.client?.sendLastChunk() }
            stream.close()
            exchange.client?.flushOutput()
            return proxy.exchangeCompleted(exchange, on: self, reusable: false)
        }
        proxy.log.warn(worker?.name ?? "proxy", "worker closed the connection in the middle of a response; aborting the client connection")
        abortMidResponse()
    }

    func connectionFailed(_ connection: StreamConnection, errno code: Int32) {
        guard let exchange else { return }
        self.exchange = nil
        let reason = String(cString: strerror(code))
        if !connected {
            return proxy.upstreamFailed(exchange, worker: worker, failure: .connectFailed(reason))
        }
        if head == nil {
            if responseStarted {
                return proxy.upstreamFailed(exchange, worker: worker, failure: .invalidResponse("reset inside the response head"))
            }
            return proxy.upstreamFailed(exchange, worker: worker, failure: .closedBeforeResponse(reason))
        }
        proxy.log.warn(worker?.name ?? "proxy", "worker connection failed mid-response (\(reason)); aborting the client connection")
        proxy.exchangeAborted(exchange, worker: worker)
    }

    func connectionDeadline(_ connection: StreamConnection) {
        guard let exchange else {
            // Idle past keepalive_timeout.
            return close()
        }
        let connecting = stream.state == .connecting
        self.exchange = nil
        stream.close()
        if connecting { return proxy.upstreamFailed(exchange, worker: worker, failure: .connectTimedOut) }
        if head == nil { return proxy.upstreamFailed(exchange, worker: worker, failure: .readTimedOut) }
        proxy.log.warn(worker?.name ?? "proxy", "no data from the worker for read_timeout in the middle of a response; aborting")
        proxy.exchangeAborted(exchange, worker: worker)
    }
}
