// The single-threaded HTTP/1.1 server: one poll(2) loop over the listening
// socket, the signalfd and every keep-alive connection (a reverse proxy
// keeps a pool of them open). Requests are handled one at a time, to
// completion, inside the loop — the CPU-bound handler blocks everything
// else, exactly like a synchronous Flask/gunicorn worker. That is the
// honest model the proxy in front has to schedule around.

import CSystem
import Glibc

final class Connection {
    let fd: Int32
    var input: [UInt8] = []
    var inputStart = 0
    var output: [UInt8] = []
    var outputStart = 0
    /// No more requests will be read; close once `output` is flushed.
    var closing = false
    /// The peer shut down its side (read returned 0).
    var peerClosed = false
    var sentContinue = false
    /// Set once we have half-closed after a final response: we keep reading
    /// (and discarding) until the peer closes or this deadline passes, so
    /// unread request bytes do not turn our close into a RST that destroys
    /// the response (e.g. a 413 sent before the oversized body arrived).
    var lingerDeadline: UInt64?
    var dead = false

    init(fd: Int32) { self.fd = fd }

    var pendingOutput: Int { output.count - outputStart }

    /// A client that pipelines requests without reading the responses: stop
    /// reading from it (TCP flow control then slows it down) instead of
    /// buffering its input without bound.
    var backpressured: Bool { pendingOutput >= 256 * 1024 || input.count - inputStart > 4 * 1024 * 1024 }
}

final class Server {
    let listenFD: Int32
    let signalFD: Int32
    var app: App
    let tokenDelayMs: Double
    var connections: [Int32: Connection] = [:]
    static let maxConnections = 512
    static let readChunk = 64 * 1024

    init(listenFD: Int32, signalFD: Int32, app: App, tokenDelayMs: Double) {
        self.listenFD = listenFD
        self.signalFD = signalFD
        self.app = app
        self.tokenDelayMs = tokenDelayMs
    }

    func run() -> Never {
        var fds: [pollfd] = []
        while true {
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0))
            let accepting = connections.count < Server.maxConnections
            fds.append(pollfd(fd: accepting ? listenFD : -1, events: Int16(POLLIN), revents: 0))
            var timeout: Int32 = -1
            let now = cs_monotonic_ns()
            for c in connections.values {
                var events = Int16(0)
                if c.lingerDeadline != nil || (!c.closing && !c.backpressured) { events |= Int16(POLLIN) }
                if c.pendingOutput > 0 { events |= Int16(POLLOUT) }
                fds.append(pollfd(fd: c.fd, events: events, revents: 0))
                if let d = c.lingerDeadline {
                    let ms = d > now ? Int32((d - now) / 1_000_000 + 1) : 0
                    timeout = timeout < 0 ? ms : min(timeout, ms)
                }
            }
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR { logError("demo worker: poll failed: errno \(errno)"); exit(1) }

            if fds[0].revents != 0 { exitOnSignal() }
            if fds[1].revents != 0 { acceptAll() }
            for p in fds.dropFirst(2) {
                guard let c = connections[p.fd] else { continue }
                if p.revents != 0 { service(c, revents: p.revents) }
                if let d = c.lingerDeadline, cs_monotonic_ns() >= d { c.dead = true }
                if c.dead { close(c) }
            }
        }
    }

    /// SIGTERM/SIGINT arrive on the signalfd (they are blocked for normal
    /// delivery), so shutdown is a clean exit(0) from the loop, prompt even
    /// when idle in poll.
    func exitOnSignal() {
        var signo: Int32 = 0, pid: Int32 = 0
        if cs_signalfd_read(signalFD, &signo, &pid) == 1 { exit(0) }
    }

    private func acceptAll() {
        while connections.count < Server.maxConnections {
            let fd = cs_accept(listenFD, 1)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { logError("demo worker: accept failed: errno \(errno)") }
                return
            }
            // Small responses and stream tokens must not wait for Nagle +
            // delayed ACK (a 40 ms stall per keep-alive request).
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            connections[fd] = Connection(fd: fd)
        }
    }

    private func service(_ c: Connection, revents: Int16) {
        if revents & Int16(POLLOUT) != 0 { flush(c) }
        if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 && (!c.backpressured || c.lingerDeadline != nil) {
            readAvailable(c)
        }
        guard !c.dead else { return }
        if c.lingerDeadline == nil { process(c) }
    }

    private func readAvailable(_ c: Connection) {
        var buffer = [UInt8](repeating: 0, count: Server.readChunk)
        let n = buffer.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, $0.count) }
        if n > 0 {
            if c.lingerDeadline == nil { c.input.append(contentsOf: buffer[0..<n]) }
        } else if n == 0 {
            c.peerClosed = true
            if c.lingerDeadline != nil { c.dead = true }
        } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
            c.dead = true
        }
    }

    /// Parses and answers every complete request in the buffer (pipelining),
    /// in order, stopping while a slow reader has more than 256 KiB of our
    /// responses unread.
    private func process(_ c: Connection) {
        while !c.closing && !c.dead && c.pendingOutput < 256 * 1024 {  // see `backpressured`
            let result = c.input.withUnsafeBufferPointer {
                parseRequest(UnsafeBufferPointer(rebasing: $0[c.inputStart...]))
            }
            switch result {
            case .incomplete(let expectsContinue):
                if expectsContinue && !c.sentContinue {
                    c.output += Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
                    c.sentContinue = true
                }
                // A half-sent request from a peer that has gone: drop it.
                if c.peerClosed { c.closing = true }
            case .failure(let status, let reason):
                // After a framing error the byte stream cannot be trusted:
                // answer and close.
                c.output += serialize(.error(status, reason), keepAlive: false, minorVersion: 1)
                c.closing = true
            case .complete(let request, let consumed):
                c.inputStart += consumed
                c.sentContinue = false
                respond(c, to: request)
                continue
            }
            break
        }
        if c.inputStart > 0 {
            c.input.removeFirst(c.inputStart)
            c.inputStart = 0
            // Do not let one big request pin a megabyte per idle keep-alive
            // connection.
            if c.input.isEmpty && c.input.capacity > 64 * 1024 { c.input = [] }
        }
        flush(c)
    }

    private func respond(_ c: Connection, to request: HTTPRequest) {
        if !request.keepAlive { c.closing = true }
        switch app.handle(request) {
        case .respond(let response):
            c.output += serialize(response, keepAlive: request.keepAlive, minorVersion: request.minorVersion,
                                  headOnly: request.method == "HEAD")
        case .stream(let text):
            stream(c, text: text, request: request)
        case .test(let action):
            runTestAction(action, on: c, request: request)
        }
        // glibc keeps freed large blocks in the heap once its mmap threshold
        // has adapted upwards; hand them back so an idle worker's RSS returns
        // to its baseline after a big request.
        if request.body.count > 256 * 1024 { releaseFreedMemory() }
    }

    private func stream(_ c: Connection, text: [UInt8], request: HTTPRequest) {
        // Earlier pipelined responses go first, synchronously.
        if c.pendingOutput > 0 {
            guard writeAll(c.fd, Array(c.output[c.outputStart...])) == .done else { c.dead = true; return }
            c.output.removeAll(); c.outputStart = 0
        }
        let events = explanationEvents(app: app, text: text)
        let writer = StreamWriter(fd: c.fd, chunked: request.minorVersion == 1)
        if !writer.chunked { c.closing = true }
        guard writer.head() == .done else { c.dead = true; return }
        for (i, event) in events.enumerated() {
            if i > 0 && tokenDelayMs > 0 { pause(milliseconds: tokenDelayMs) }
            guard writer.event(event) == .done else { c.dead = true; return }
        }
        if writer.end() != .done { c.dead = true }
    }

    /// Sleeps between tokens while still honouring SIGTERM.
    func pause(milliseconds: Double) {
        let deadline = cs_monotonic_ns() + UInt64(milliseconds * 1_000_000)
        while true {
            let now = cs_monotonic_ns()
            guard now < deadline else { return }
            var p = pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)
            let timeout = Int32((deadline - now + 999_999) / 1_000_000)
            if poll(&p, 1, timeout) > 0 { exitOnSignal() }
        }
    }

    /// Non-blocking flush; whatever does not fit waits for POLLOUT.
    private func flush(_ c: Connection) {
        while c.pendingOutput > 0 {
            let n = c.output.withUnsafeBytes { raw in
                write(c.fd, raw.baseAddress! + c.outputStart, raw.count - c.outputStart)
            }
            if n > 0 { c.outputStart += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            c.dead = true   // EPIPE / ECONNRESET: the client is gone
            return
        }
        if c.pendingOutput == 0 {
            c.output.removeAll(keepingCapacity: c.output.capacity <= 64 * 1024)
            c.outputStart = 0
            if c.closing && c.lingerDeadline == nil {
                if c.peerClosed { c.dead = true; return }
                shutdown(c.fd, Int32(SHUT_WR))
                c.lingerDeadline = cs_monotonic_ns() + 2_000_000_000
            }
        }
    }

    private func close(_ c: Connection) {
        connections[c.fd] = nil
        _ = Glibc.close(c.fd)
    }
}
