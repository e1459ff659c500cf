import CSystem
import Glibc

/// A response head from parts drover itself builds (never from input).
func responseHead(status: Int, headers: [(String, String)]) -> [UInt8] {
    (try? HTTPHeadWriter.response(status: status, headers: HTTPHeaders(headers.map { (name: $0.0, value: $0.1) })))
        ?? Array("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
}

/// One whole request: its head and its body, read in full (control and
/// admin bodies are small; the proxy streams instead).
public struct HTTPRequest {
    public var head: HTTPRequestHead
    public var body: [UInt8]
}

/// How a handler answers one request, now or later (the reactor never
/// waits for it). Answers go out in request order on a pipelined connection.
public final class HTTPResponder {
    fileprivate weak var connection: HTTPServerConnection?
    fileprivate let keepAlive: Bool
    fileprivate let omitBody: Bool
    fileprivate var streaming = false
    public private(set) var finished = false
    /// Called if the client goes away before the answer is finished (a
    /// `tail -f` follower unsubscribes here).
    public var onClose: (() -> Void)?

    fileprivate init(connection: HTTPServerConnection, keepAlive: Bool, omitBody: Bool) {
        self.connection = connection
        self.keepAlive = keepAlive
        self.omitBody = omitBody
    }

    public var isOpen: Bool { connection != nil && !finished }

    public func respond(status: Int, contentType: String = "text/plain; charset=utf-8",
                        headers: [(String, String)] = [], body: [UInt8]) {
        guard !finished, !streaming, let connection else { return }
        finished = true
        var all = headers
        all.append(("Content-Type", contentType))
        all.append(("Content-Length", String(body.count)))
        all.append(("Connection", keepAlive ? "keep-alive" : "close"))
        var bytes = responseHead(status: status, headers: all)
        if !omitBody { bytes.append(contentsOf: body) }
        connection.send(bytes, last: true, closeAfter: !keepAlive)
    }

    public func respond(status: Int, contentType: String = "text/plain; charset=utf-8",
                        headers: [(String, String)] = [], text: String) {
        respond(status: status, contentType: contentType, headers: headers, body: Array(text.utf8))
    }

    /// A response whose length is not known: chunked, ended by `finish()`.
    public func startStream(status: Int, contentType: String, headers: [(String, String)] = []) {
        guard !finished, !streaming, let connection else { return }
        streaming = true
        var all = headers
        all.append(("Content-Type", contentType))
        all.append(("Transfer-Encoding", "chunked"))
        all.append(("Cache-Control", "no-cache"))
        all.append(("X-Content-Type-Options", "nosniff"))
        connection.send(responseHead(status: status, headers: all), last: false, closeAfter: false)
    }

    /// Sends one chunk; returns false when the client is gone or too far
    /// behind (it is then dropped rather than buffered without bound).
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        guard streaming, !finished, let connection, !bytes.isEmpty else { return connection != nil && !finished }
        return connection.send(HTTPChunkWriter.chunk(bytes), last: false, closeAfter: false, droppable: true)
    }

    public func finish() {
        guard streaming, !finished, let connection else { return }
        finished = true
        connection.send(HTTPChunkWriter.lastChunk, last: true, closeAfter: !keepAlive)
    }

    fileprivate func connectionClosed() {
        connection = nil
        if !finished {
            finished = true
            onClose?()
        }
    }
}

/// A server-side HTTP/1.1 connection on the reactor: parses requests as
/// bytes arrive, hands each whole request to the handler, writes answers in
/// order without blocking, and closes slow or misbehaving clients.
final class HTTPServerConnection {
    struct Options {
        var limits = HTTPLimits()
        /// Time allowed to send a whole request once it has begun.
        var requestTimeout = 10.0
        /// Keep-alive: time allowed between requests.
        var idleTimeout = 60.0
        /// Output a client may leave unread before it is dropped.
        var maxPendingOutput = 1 << 20
        /// Pipelined requests held while an earlier one is answered.
        var maxQueued = 16
    }

    private let fd: FileDescriptor
    private unowned let reactor: Reactor
    private let options: Options
    private let handler: (HTTPRequest, HTTPResponder) -> Void
    private let onClose: (HTTPServerConnection) -> Void
    private var parser: HTTPRequestParser
    private var events: [HTTPRequestEvent] = []
    private var currentHead: HTTPRequestHead?
    private var currentBody: [UInt8] = []
    private var queue: [HTTPRequest] = []
    private var active: HTTPResponder?
    private var output: [UInt8] = []
    private var outputStart = 0
    private var closeWhenFlushed = false
    private var readingPaused = false
    private var watchingWritable = false
    private var timer: TimerID?
    private(set) var closed = false
    let peer: String

    init(fd: FileDescriptor, peer: String, reactor: Reactor, options: Options,
         handler: @escaping (HTTPRequest, HTTPResponder) -> Void, onClose: @escaping (HTTPServerConnection) -> Void) {
        self.fd = fd
        self.peer = peer
        self.reactor = reactor
        self.options = options
        self.handler = handler
        self.onClose = onClose
        parser = HTTPRequestParser(limits: options.limits)
    }

    func start() throws(SystemError) {
        try reactor.register(fd, events: Reactor.readable | UInt32(CS_EPOLLRDHUP)) { [unowned self] events in
            self.handle(events)
        }
        armTimer(options.idleTimeout)
    }

    private func handle(_ events: UInt32) {
        if events & Reactor.writable != 0 { flush() }
        if closed { return }
        if events & (Reactor.readable | Reactor.hangup) != 0 && !readingPaused { readAvailable() }
    }

    private func readAvailable() {
        var buffer = [UInt8](repeating: 0, count: 16384)
        for _ in 0..<8 {
            let result: FileDescriptor.ReadResult
            do { result = try fd.read(into: &buffer) } catch { return close() }
            switch result {
            case .wouldBlock: return
            case .endOfFile:
                // The client is done sending; finish answering what it asked, then
                // close. A request cut off half way can never complete: drop it.
                if active == nil && queue.isEmpty && pendingRejection == nil { return close() }
                closeWhenFlushed = true
                pauseReading()
                return
            case .bytes(let n):
                buffer.withUnsafeBytes { raw in
                    parser.parse(UnsafeRawBufferPointer(rebasing: raw[..<n]), into: &self.events)
                }
                processEvents()
                if closed || readingPaused { return }
            }
        }
    }

    private func processEvents() {
        let batch = events
        events.removeAll(keepingCapacity: true)
        for event in batch {
            switch event {
            case .head(let head):
                if currentHead == nil { armTimer(options.requestTimeout) }
                currentHead = head
                currentBody = []
            case .body(let bytes):
                currentBody.append(contentsOf: bytes)
            case .end:
                guard let head = currentHead else { continue }
                currentHead = nil
                queue.append(HTTPRequest(head: head, body: currentBody))
                currentBody = []
                if queue.count >= options.maxQueued { pauseReading() }
            case .error(let error):
                // The framing can no longer be trusted: answer what came
                // before, then this error, then close.
                rejectAfterQueue(status: error.status, reason: error.reason)
                return dispatchNext()
            }
        }
        dispatchNext()
    }

    private var pendingRejection: (status: Int, reason: String)?

    private func rejectAfterQueue(status: Int, reason: String) {
        pendingRejection = (status, reason)
        pauseReading()
    }

    private func dispatchNext() {
        guard active == nil, !closed else { return }
        if !queue.isEmpty {
            let request = queue.removeFirst()
            let responder = HTTPResponder(connection: self, keepAlive: request.head.keepAlive && !closeWhenFlushed,
                                          omitBody: request.head.method == "HEAD")
            active = responder
            reactor.cancel(timer)
            timer = nil
            handler(request, responder)
            return
        }
        if let rejection = pendingRejection {
            pendingRejection = nil
            let body = Array((JSONValue.error(rejection.reason, code: rejection.status == 408 ? "timeout" : "bad_request").json + "\n").utf8)
            var bytes = responseHead(status: rejection.status, headers: [
                ("Content-Type", "application/json"), ("Content-Length", String(body.count)), ("Connection", "close"),
            ])
            bytes.append(contentsOf: body)
            send(bytes, last: true, closeAfter: true)
            return
        }
        if closeWhenFlushed && outputStart == output.count { return close() }
        if readingPaused && !closeWhenFlushed { resumeReading() }
        if currentHead == nil { armTimer(options.idleTimeout) }
    }

    /// Queues bytes for the client. `last` ends the active response.
    @discardableResult
    fileprivate func send(_ bytes: [UInt8], last: Bool, closeAfter: Bool, droppable: Bool = false) -> Bool {
        guard !closed else { return false }
        if droppable && output.count - outputStart + bytes.count > options.maxPendingOutput {
            // A follower that stopped reading: drop it, do not buffer forever.
            close()
            return false
        }
        output.append(contentsOf: bytes)
        if closeAfter { closeWhenFlushed = true }
        if last {
            active = nil
        }
        flush()
        if last && !closed { dispatchNext() }
        return !closed
    }

    private func flush() {
        while outputStart < output.count {
            let written: Int
            do { written = try fd.write(output, from: outputStart) } catch { return close() }
            if written == 0 { break }
            outputStart += written
        }
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.count <= 65536)
            outputStart = 0
            if watchingWritable { setInterest(writable: false) }
            if closeWhenFlushed && active == nil && queue.isEmpty && pendingRejection == nil { close() }
        } else {
            if outputStart > 65536 {
                output.removeFirst(outputStart)
                outputStart = 0
            }
            if !watchingWritable { setInterest(writable: true) }
        }
    }

    private func setInterest(writable: Bool) {
        watchingWritable = writable
        var events = UInt32(CS_EPOLLRDHUP)
        if !readingPaused { events |= Reactor.readable }
        if writable { events |= Reactor.writable }
        try? reactor.modify(fd, events: events)
    }

    private func pauseReading() {
        guard !readingPaused else { return }
        readingPaused = true
        setInterest(writable: watchingWritable)
    }

    private func resumeReading() {
        guard readingPaused else { return }
        readingPaused = false
        setInterest(writable: watchingWritable)
    }

    private func armTimer(_ seconds: Double) {
        reactor.cancel(timer)
        timer = reactor.schedule(after: seconds) { [unowned self] in
            self.timer = nil
            if self.currentHead != nil {
                // Too slow to send a request (slowloris): 408, then close.
                self.rejectAfterQueue(status: 408, reason: "request not received in time")
                self.dispatchNext()
            } else {
                self.close()
            }
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        reactor.cancel(timer)
        timer = nil
        reactor.unregister(fd)
        fd.close()
        let responder = active
        active = nil
        queue.removeAll()
        responder?.connectionClosed()
        onClose(self)
    }
}

