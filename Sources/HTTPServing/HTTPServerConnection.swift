import CSystem
import Glibc
import HTTP
import JSON
import System

/// A response head from parts drover itself builds (never from input).
func responseHead(status: Int, headers: [(String, String)]) -> [UInt8] {
    (try? HTTPHeadWriter.response(status: status, headers: HTTPHeaders(headers.map { (name: $0.0, value: $0.1) })))
        ?? Array("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
}

/// One whole request: its head and its body, read in full (control and
/// admin bodies are small; the proxy streams instead).
package struct HTTPRequest {
    package var head: HTTPRequestHead
    package var body: [UInt8]
}

/// An answer the connection gives by itself, in request order: a framing
/// error, a slow request (408), a body over the cap (413), or a refusal
/// decided from a request's head alone (the admin token check) before any
/// of its body is read.
package struct HTTPEarlyAnswer {
    package var status: Int
    package var contentType = "application/json"
    package var headers: [(String, String)] = []
    package var body: [UInt8]

    /// `{"error": ..., "code": ...}` as every other control/admin error.
    package static func error(_ status: Int, _ message: String, code: String, headers: [(String, String)] = []) -> HTTPEarlyAnswer {
        HTTPEarlyAnswer(status: status, headers: headers, body: Array((JSONValue.error(message, code: code).json + "\n").utf8))
    }
}

/// How a handler answers one request, now or later (the reactor never
/// waits for it). Answers go out in request order on a pipelined connection.
package final class HTTPResponder {
    fileprivate weak var connection: HTTPServerConnection?
    fileprivate let keepAlive: Bool
    fileprivate let omitBody: Bool
    fileprivate var streaming = false
    package private(set) var finished = false
    /// Called if the client goes away before the answer is finished (a
    /// `tail -f` follower unsubscribes here).
    package var onClose: (() -> Void)?

    fileprivate init(connection: HTTPServerConnection, keepAlive: Bool, omitBody: Bool) {
        self.connection = connection
        self.keepAlive = keepAlive
        self.omitBody = omitBody
    }

    package var isOpen: Bool { connection != nil && !finished }

    package func respond(status: Int, contentType: String = "text/plain; charset=utf-8",
                        headers: [(String, String)] = [], body: [UInt8]) {
        guard !finished, !streaming, let connection else { return }
        finished = true
        var all = headers
        all.append(("Content-Type", contentType))
        all.append(("Content-Length", String(body.count)))
        all.append(("Connection", keepAlive ? "keep-alive" : "close"))
        // Head and body go to the socket as two pieces of one writev: a
        // large body is not copied behind its head.
        connection.send(responseHead(status: status, headers: all), body: omitBody ? nil : body,
                        last: true, closeAfter: !keepAlive)
    }

    package func respond(status: Int, contentType: String = "text/plain; charset=utf-8",
                        headers: [(String, String)] = [], text: String) {
        respond(status: status, contentType: contentType, headers: headers, body: Array(text.utf8))
    }

    /// A response whose length is not known: chunked, ended by `finish()`.
    package func startStream(status: Int, contentType: String, headers: [(String, String)] = []) {
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
    package func send(_ bytes: [UInt8]) -> Bool {
        guard streaming, !finished, let connection, !bytes.isEmpty else { return connection != nil && !finished }
        return connection.send(HTTPChunkWriter.chunk(bytes), last: false, closeAfter: false, droppable: true)
    }

    package func finish() {
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

/// A server-side HTTP/1.1 connection for the control socket and the admin
/// listener, on a `StreamConnection`: parses requests as bytes arrive, hands
/// each whole request to the handler, writes answers in order, and closes
/// slow or misbehaving clients. One deadline per connection, moved in place
/// (idle between requests, request timeout while one arrives), so a request
/// costs no timer syscall in the common case.
package final class HTTPServerConnection: StreamConnectionDelegate {
    package struct Options {
        package init() {}

        /// The parser frames and bounds heads; bodies are capped below, after
        /// `inspectHead` has had its say, so an unauthenticated client gets
        /// 401 whatever length it announces.
        package var limits = HTTPLimits(maxBodyBytes: .max)
        /// Control and admin bodies are small JSON: above this, 413.
        package var maxBodyBytes = 1 << 20
        /// Time allowed to send a whole request once its first byte came.
        package var requestTimeout: Duration = .seconds(10)
        /// Keep-alive: time allowed between requests; also how long queued
        /// output may sit without the client taking any of it.
        package var idleTimeout: Duration = .seconds(60)
        /// Output a streaming (`tail -f`) client may leave unread before it is dropped.
        package var maxPendingOutput = 1 << 20
        /// Whole requests held while an earlier one is answered; reading
        /// pauses when this many are waiting.
        package var maxQueued = 16
        /// Looks at each request head before its body is read; an answer
        /// returned here is sent (in order) instead of reading the body and
        /// calling the handler, and a body the request announced is never read.
        package var inspectHead: ((HTTPRequestHead) -> HTTPEarlyAnswer?)?
    }

    private enum Work {
        case request(HTTPRequest)
        /// An answer of the connection's own; `close` ends the connection after it.
        case answer(HTTPEarlyAnswer, omitBody: Bool, close: Bool)
    }

    private enum DeadlineKind { case idle, request }

    /// Input is parsed in slices of this size, so a read full of tiny
    /// pipelined requests queues at most about one slice beyond `maxQueued`.
    private static let parseSlice = 16 * 1024

    private let stream: StreamConnection
    private let options: Options
    private let handler: (HTTPRequest, HTTPResponder) -> Void
    private let onClose: (HTTPServerConnection) -> Void
    private var parser: HTTPRequestParser
    private var events: [HTTPRequestEvent] = []
    private var currentHead: HTTPRequestHead?
    private var currentBody: [UInt8] = []
    /// A bodiless request was answered from its head: its `.end` is no request.
    private var skipNextEnd = false
    private var queue: [Work] = []
    private var active: HTTPResponder?
    /// Bytes received while the queue was full, parsed once there is room.
    private var held = ByteBuffer()
    /// After a framing error, a refusal or a closing answer, input is ignored.
    private var stopParsing = false
    /// The client shut its sending side: answer what it asked, then close.
    private var readEOF = false
    /// An answer that closes the connection is queued or sent: nothing follows it.
    private var closing = false
    private var dispatching = false
    private var deadlineKind: DeadlineKind?
    /// Bytes handed to the stream, and how many of them had gone out when the
    /// deadline last passed (progress check for slow readers).
    private var enqueued = 0
    private var flushedAtDeadline = 0
    private(set) var closed = false
    let peer: String

    init(socket: consuming OwnedDescriptor, peer: String, reactor: Reactor, options: Options,
         handler: @escaping (HTTPRequest, HTTPResponder) -> Void, onClose: @escaping (HTTPServerConnection) -> Void) {
        stream = StreamConnection(socket: socket, reactor: reactor)
        self.peer = peer
        self.options = options
        self.handler = handler
        self.onClose = onClose
        parser = HTTPRequestParser(limits: options.limits)
        stream.delegate = self
    }

    /// Registers with the reactor; on failure the descriptor is closed.
    func start() throws(SystemError) {
        try stream.start()
        setDeadline(.idle)
    }

    /// Bytes queued for the client and not yet written (tests, diagnostics).
    var pendingOutput: Int { stream.pendingBytes }

    // MARK: Input

    package func connection(_ connection: StreamConnection, received bytes: UnsafeRawBufferPointer) {
        if stopParsing { return }
        if !held.isEmpty {
            // Reading resumes only once `held` is empty; keep order regardless.
            held.append(bytes)
        } else {
            let used = feed(bytes)
            if used < bytes.count && !stopParsing && !closed {
                held.append(UnsafeRawBufferPointer(rebasing: bytes[used...]))
            }
        }
        guard !closed else { return }
        if stopParsing || !held.isEmpty || queue.count >= options.maxQueued { stream.setReading(false) }
        dispatch()
    }

    package func connectionReadEOF(_ connection: StreamConnection) {
        readEOF = true
        dispatch()
    }

    package func connectionFailed(_ connection: StreamConnection, errno: Int32) {}

    /// The stream's last word, however it closed (reset, `close`, or after
    /// flushing the last answer): everything is released here.
    package func connectionDidClose(_ connection: StreamConnection) {
        guard !closed else { return }
        closed = true
        queue.removeAll()
        held.clear()
        let responder = active
        active = nil
        responder?.connectionClosed()
        onClose(self)
    }

    /// Parses `bytes` until the queue is full; returns how many were used.
    private func feed(_ bytes: UnsafeRawBufferPointer) -> Int {
        var offset = 0
        while offset < bytes.count && !stopParsing && !closed && queue.count < options.maxQueued {
            let end = min(bytes.count, offset + Self.parseSlice)
            parser.parse(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), into: &events)
            offset = end
            processEvents()
        }
        return stopParsing ? bytes.count : offset
    }

    private func processEvents() {
        defer { events.removeAll(keepingCapacity: true) }
        for event in events {
            if stopParsing { return }
            switch event {
            case .head(let head):
                currentHead = nil
                currentBody = []
                let hasBody = Self.hasBody(head)
                if let answer = options.inspectHead?(head) {
                    if hasBody || !head.keepAlive {
                        // Refused on its head: the body is never read.
                        refuse(answer, omitBody: head.method == "HEAD")
                    } else {
                        queue.append(.answer(answer, omitBody: head.method == "HEAD", close: false))
                        skipNextEnd = true
                    }
                    continue
                }
                if case .length(let length) = head.framing, length > options.maxBodyBytes {
                    refuse(.error(413, "request body larger than \(options.maxBodyBytes) bytes", code: "too_large"),
                           omitBody: head.method == "HEAD")
                    continue
                }
                currentHead = head
                if case .length(let length) = head.framing { currentBody.reserveCapacity(length) }
                if hasBody && head.expectsContinue && queue.isEmpty && active == nil {
                    // Everything answered so far is already queued on the stream,
                    // so the interim answer cannot overtake one.
                    enqueue(Self.continueLine)
                }
            case .body(let bytes):
                guard currentHead != nil else { continue }
                if currentBody.count + bytes.count > options.maxBodyBytes {
                    currentHead = nil
                    currentBody = []
                    refuse(.error(413, "request body larger than \(options.maxBodyBytes) bytes", code: "too_large"),
                           omitBody: false)
                    continue
                }
                currentBody.append(contentsOf: bytes)
            case .end:
                if skipNextEnd {
                    skipNextEnd = false
                    continue
                }
                guard let head = currentHead else { continue }
                currentHead = nil
                queue.append(.request(HTTPRequest(head: head, body: currentBody)))
                currentBody = []
            case .error(let error):
                // The framing can no longer be trusted: answer what came
                // before, then this error, then close.
                currentHead = nil
                currentBody = []
                refuse(.error(error.status, error.reason, code: "bad_request"), omitBody: false)
            }
        }
    }

    private static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    private static func hasBody(_ head: HTTPRequestHead) -> Bool {
        switch head.framing {
        case .none, .length(0): return false
        default: return true
        }
    }

    /// Queues a closing answer after what is queued, and stops reading: the
    /// rest of the input (a refused body included) is never looked at.
    private func refuse(_ answer: HTTPEarlyAnswer, omitBody: Bool) {
        queue.append(.answer(answer, omitBody: omitBody, close: true))
        stopParsing = true
        held.clear()
        stream.setReading(false)
    }

    // MARK: Dispatch

    /// Hands queued requests to the handler one at a time, writes what they
    /// answer at once, and decides about reading, the deadline and closing.
    private func dispatch() {
        guard !dispatching, !closed else { return }
        dispatching = true
        while !closed && active == nil {
            if queue.isEmpty {
                // Room again: parse what was held back while the queue was full.
                guard !held.isEmpty, !stopParsing else { break }
                // Taken out first: parsing may refuse and clear `held`.
                var pending = held
                held = ByteBuffer()
                let used = pending.withReadableBytes { feed($0) }
                if closed { break }
                if !stopParsing && used < pending.readableBytes {
                    pending.consume(used)
                    held = pending
                }
                if queue.isEmpty { break }
                continue
            }
            let work = queue.removeFirst()
            // After the client's EOF nothing more can come: the last queued
            // answer says the connection closes, the ones before it do not.
            let lastAfterEOF = readEOF && queue.isEmpty
            switch work {
            case .answer(let answer, let omitBody, let close):
                var headers = answer.headers
                headers.append(("Content-Type", answer.contentType))
                headers.append(("Content-Length", String(answer.body.count)))
                headers.append(("Connection", close || lastAfterEOF ? "close" : "keep-alive"))
                enqueue(responseHead(status: answer.status, headers: headers))
                if !omitBody { enqueue(answer.body) }
                if close { closeAfterAnswer() }
            case .request(let request):
                let responder = HTTPResponder(connection: self, keepAlive: request.head.keepAlive && !lastAfterEOF,
                                              omitBody: request.head.method == "HEAD")
                active = responder
                handler(request, responder)
            }
        }
        dispatching = false
        guard !closed else { return }
        if active == nil && queue.isEmpty && held.isEmpty && !stopParsing && !readEOF {
            stream.setReading(true)
        }
        updateDeadline()
        stream.flush()
        finishIfDone()
    }

    /// Queues bytes for the client. `last` ends the active response.
    @discardableResult
    fileprivate func send(_ bytes: [UInt8], body: [UInt8]? = nil, last: Bool, closeAfter: Bool,
                          droppable: Bool = false) -> Bool {
        guard !closed else { return false }
        if droppable && stream.pendingBytes + bytes.count > options.maxPendingOutput {
            // A follower that stopped reading: drop it, do not buffer forever.
            close()
            return false
        }
        enqueue(bytes)
        if let body { enqueue(body) }
        if last {
            active = nil
            if closeAfter { closeAfterAnswer() }
            if !stopParsing && (currentHead != nil || !parser.isAtMessageBoundary) {
                // A pipelined request is on its way: its request deadline stands.
            } else {
                setDeadline(.idle)
            }
            if !dispatching { dispatch() }
        } else if !dispatching {
            stream.flush()
        }
        return !closed
    }

    private func enqueue(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        enqueued += bytes.count
        stream.enqueue(bytes)
    }

    /// Nothing is answered after this: later input is ignored, the
    /// connection closes once the answer is written.
    private func closeAfterAnswer() {
        closing = true
        stopParsing = true
        queue.removeAll()
        held.clear()
    }

    /// Closes once the last answer is handed to the kernel: after a closing
    /// answer, or after the client's EOF once everything it asked is answered
    /// (a request it cut off half way can never complete). A half-closed
    /// client still gets every byte: the stream stops watching its input and
    /// goes on writing.
    private func finishIfDone() {
        guard !closed, !dispatching, active == nil, queue.isEmpty, closing || readEOF else { return }
        stream.closeAfterFlushing()
    }

    // MARK: Deadline

    private func setDeadline(_ kind: DeadlineKind) {
        deadlineKind = kind
        stream.setDeadline(after: kind == .idle ? options.idleTimeout : options.requestTimeout)
    }

    private var requestInProgress: Bool {
        !stopParsing && (currentHead != nil || !parser.isAtMessageBoundary)
    }

    /// A request begun moves the deadline to the request timeout (once, when
    /// it begins); a request completed moves it back to idle.
    private func updateDeadline() {
        if requestInProgress {
            if deadlineKind != .request { setDeadline(.request) }
        } else if deadlineKind == .request && active == nil {
            setDeadline(.idle)
        }
    }

    package func connectionDeadline(_ connection: StreamConnection) {
        deadlineKind = nil
        if active != nil {
            // The daemon is still at work on an answer, or streaming one.
            return setDeadline(.idle)
        }
        if stream.pendingBytes > 0 {
            // A client still taking its answer may have more time; one that
            // took nothing for a whole idle period is gone.
            let flushed = enqueued - stream.pendingBytes
            if flushed > flushedAtDeadline {
                flushedAtDeadline = flushed
                return setDeadline(.idle)
            }
            return close()
        }
        if requestInProgress && !closing {
            // Too slow to send a request (slowloris): 408, then close.
            refuse(.error(408, "request not received in time", code: "timeout"), omitBody: false)
            return dispatch()
        }
        close()
    }

    // MARK: Closing

    /// Closes now, dropping queued output (`connectionDidClose` follows).
    func close() {
        guard !closed else { return }
        stream.close()
    }
}
