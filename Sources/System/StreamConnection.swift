import CSystem
import Glibc

/// What a stream connection tells its owner. Callbacks run on the reactor;
/// `received` bytes live in the loop's shared receive buffer and are valid
/// only during the call (copy what must be kept; never read another
/// connection from inside it).
package protocol StreamConnectionDelegate: AnyObject {
    func connectionConnected(_ connection: StreamConnection)
    func connection(_ connection: StreamConnection, received bytes: UnsafeRawBufferPointer)
    /// The peer shut its sending side; writing may go on (half-close).
    func connectionReadEOF(_ connection: StreamConnection)
    /// Pending output fell to the low watermark after passing the high one
    /// (the owner may resume reading the other side of a proxied pair).
    func connectionWriteDrained(_ connection: StreamConnection)
    /// Reset, refused or any other socket error; the connection is closed.
    func connectionFailed(_ connection: StreamConnection, errno: Int32)
    /// The connection's one deadline passed.
    func connectionDeadline(_ connection: StreamConnection)
    /// Last word: the descriptor is closed (after `connectionFailed`, or
    /// from `close`/`abort`/a flush-then-close). Owners drop it here.
    func connectionDidClose(_ connection: StreamConnection)
}

extension StreamConnectionDelegate {
    package func connectionConnected(_ connection: StreamConnection) {}
    package func connectionWriteDrained(_ connection: StreamConnection) {}
    package func connectionDidClose(_ connection: StreamConnection) {}
}

/// A non-blocking stream socket on the reactor: reads into the loop's
/// receive buffer, queues output as chunks flushed with one `writev`, keeps
/// one deadline, and follows half-close correctly: after the peer's EOF it
/// stops asking for readability (so a level-triggered RDHUP cannot spin the
/// loop) and still delivers every queued byte.
package final class StreamConnection {
    package enum State { case connecting, open, closed }

    /// The socket's number, for system calls and the reactor; valid until closed.
    package let fd: FileDescriptor
    /// The socket itself, owned from accept or connect until `close`/`abort`
    /// or a failure closes it (once: it is taken out to be closed).
    private var socket: OwnedDescriptor?
    /// Strong: the reactor never holds a connection strongly (its handler
    /// and timer capture it unowned), so there is no cycle, and reaching
    /// the loop costs no unowned-reference check per call.
    private let reactor: Reactor
    /// Strong until the connection closes (then dropped): its owner holds
    /// the connection and the connection its owner, a cycle that the close
    /// breaks. A weak reference here would give every owner a side table,
    /// which makes each retain and release of it a slow path.
    package var delegate: StreamConnectionDelegate?
    package private(set) var state: State
    /// The peer's end of file was read.
    package private(set) var peerClosedWrite = false
    private var readingWanted = true
    private var interest: UInt32 = 0

    /// Output waiting for the socket, in order. Small pieces are copied
    /// into pooled buffers of the loop's (`owned`), so a request/answer
    /// round allocates no output array; a large array is queued as it is,
    /// without a copy.
    private struct Chunk {
        var bytes: [UInt8]
        /// A pool buffer: appended to in place, and given back once written.
        let owned: Bool
    }
    private var chunks: [Chunk] = []
    /// Bytes of `chunks[0]` already written.
    private var headOffset = 0
    package private(set) var pendingBytes = 0
    let highWatermark: Int
    let lowWatermark: Int
    private var aboveHighWatermark = false
    private var shutdownAfterFlush = false
    /// Our FIN went out.
    private var wroteShutdown = false
    private var closeAfterFlush = false

    private var deadline: TimerID?
    /// For counting syscalls per request in tests and benchmarks.
    private(set) var writes = 0
    /// Bytes handed to the kernel so far.
    package private(set) var bytesWritten = 0

    package init(socket: consuming OwnedDescriptor, reactor: Reactor, connecting: Bool = false,
                 highWatermark: Int = 256 * 1024, lowWatermark: Int = 64 * 1024) {
        fd = socket.borrowed
        self.socket = consume socket
        self.reactor = reactor
        self.state = connecting ? .connecting : .open
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
    }

    deinit {
        // Dropped without a close (its owner's bug): its held timer must
        // not stay behind it.
        reactor.cancel(deadline)
    }

    /// Registers with the reactor. On failure the descriptor is closed.
    package func start() throws(SystemError) {
        interest = wantedInterest()
        do {
            try reactor.register(fd, events: interest) { [unowned self] events in self.handle(events) }
        } catch {
            state = .closed
            socket.take()?.close()
            delegate = nil
            throw error
        }
    }

    /// Bytes the peer has taken: written, minus what still waits in the
    /// kernel's send queue. A slow reader emptying that queue moves it even
    /// while drover writes nothing (its writes wait for a third of the
    /// buffer to free), so this, not `bytesWritten`, tells slow from stalled.
    package var bytesTaken: Int {
        guard state != .closed else { return bytesWritten }
        return bytesWritten - max(0, cs_socket_unsent(fd.rawValue))
    }

    package var isOpen: Bool { state != .closed }
    package var isWritable: Bool { state != .closed && !aboveHighWatermark }

    // MARK: Reading

    /// Stop or resume reading (backpressure from the other side of a pair).
    package func setReading(_ on: Bool) {
        guard readingWanted != on else { return }
        readingWanted = on
        updateInterest()
    }

    var isReading: Bool { readingWanted }

    private func handle(_ events: UInt32) {
        if state == .connecting {
            let error = cs_socket_error(fd.rawValue)
            if error != 0 { return fail(error) }
            guard events & (Reactor.writable | Reactor.hangup) != 0 else { return }
            if events & UInt32(CS_EPOLLHUP) != 0 { return fail(ECONNREFUSED) }
            state = .open
            updateInterest()
            delegate?.connectionConnected(self)
            if state == .closed { return }
            flush()
            return
        }
        if events & Reactor.writable != 0 {
            flush()
            if state == .closed { return }
        }
        if events & (Reactor.readable | Reactor.peerHalfClosed) != 0 && readingWanted && !peerClosedWrite {
            readAvailable()
        } else if events & UInt32(CS_EPOLLERR) != 0 {
            fail(cs_socket_error(fd.rawValue))
        } else if events & UInt32(CS_EPOLLHUP) != 0 {
            // Both directions are gone. After our FIN and the peer's, that is
            // a clean close; otherwise the peer reset or vanished.
            if peerClosedWrite && wroteShutdown && chunks.isEmpty {
                close()
            } else if !readingWanted || peerClosedWrite {
                fail(ECONNRESET)
            } else {
                readAvailable()
            }
        }
    }

    private func readAvailable() {
        let buffer = reactor.receiveBuffer
        for _ in 0..<4 {
            // recv/send rather than read/write: a socket's bytes without the
            // file layer (position lock, fsnotify) on every call.
            let n = Glibc.recv(fd.rawValue, buffer.baseAddress, buffer.count, 0)
            if n > 0 {
                delegate?.connection(self, received: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                if state == .closed || !readingWanted || n < buffer.count { return }
                continue
            }
            if n == 0 {
                peerClosedWrite = true
                delegate?.connectionReadEOF(self)
                // Most owners close here; only a connection still open needs
                // its interest narrowed (saves an epoll_ctl per connection).
                if state != .closed { updateInterest() }
                return
            }
            let code = cs_errno()
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return }
            return fail(code)
        }
    }

    // MARK: Writing

    /// Queues bytes: a large array as it is (no copy), a small one copied
    /// into the pooled tail buffer.
    package func enqueue(_ bytes: [UInt8]) {
        guard state != .closed, !bytes.isEmpty else { return }
        if bytes.count < Self.copyBelow {
            bytes.withUnsafeBytes { appendOwned($0) }
        } else {
            pendingBytes += bytes.count
            chunks.append(Chunk(bytes: bytes, owned: false))
        }
        noteQueued()
    }

    /// Queues a copy of `bytes`.
    package func enqueue(copying bytes: UnsafeRawBufferPointer) {
        guard state != .closed, !bytes.isEmpty else { return }
        appendOwned(bytes)
        noteQueued()
    }

    /// Arrays below this are copied when queued; at or above, referenced.
    static let copyBelow = 4096
    /// A pooled tail buffer takes more bytes while it stays below this.
    static let coalesceUpTo = 64 * 1024

    /// Appends to the last chunk when it is a pool buffer with room (fewer
    /// iovecs), else to a buffer from the pool.
    private func appendOwned(_ bytes: UnsafeRawBufferPointer) {
        pendingBytes += bytes.count
        if let last = chunks.indices.last, chunks[last].owned, chunks[last].bytes.count + bytes.count <= Self.coalesceUpTo {
            chunks[last].bytes.append(contentsOf: bytes)
            return
        }
        var buffer = reactor.outputBuffers.take()
        buffer.append(contentsOf: bytes)
        chunks.append(Chunk(bytes: buffer, owned: true))
    }

    private func noteQueued() {
        if pendingBytes >= highWatermark { aboveHighWatermark = true }
    }

    /// Writes as much queued output as the socket takes now.
    package func flush() {
        guard state == .open else { return }
        while !chunks.isEmpty {
            let written = writeQueued()
            if written < 0 {
                let code = cs_errno()
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { break }
                return fail(code)
            }
            consumeWritten(written)
            if written == 0 { break }
        }
        if chunks.isEmpty {
            if aboveHighWatermark || pendingBytes <= lowWatermark { drainedIfNeeded() }
            if state == .closed { return }
            if closeAfterFlush { return close() }
            if shutdownAfterFlush {
                shutdownAfterFlush = false
                wroteShutdown = true
                _ = cs_shutdown_write(fd.rawValue)
            }
        } else if aboveHighWatermark && pendingBytes <= lowWatermark {
            drainedIfNeeded()
        }
        if state == .open { updateInterest() }
    }

    private func drainedIfNeeded() {
        guard aboveHighWatermark, pendingBytes <= lowWatermark else { return }
        aboveHighWatermark = false
        delegate?.connectionWriteDrained(self)
    }

    private func writeQueued() -> Int {
        writes &+= 1
        if chunks.count == 1 {
            return chunks[0].bytes.withUnsafeBytes { raw in
                Glibc.send(fd.rawValue, raw.baseAddress! + headOffset, raw.count - headOffset, Int32(MSG_NOSIGNAL))
            }
        }
        // One writev over up to 64 chunks: a response head and its body go out together.
        let count = min(chunks.count, 64)
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { iov in
            for index in 0..<count {
                chunks[index].bytes.withUnsafeBytes { raw in
                    let skip = index == 0 ? headOffset : 0
                    iov[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + skip),
                                       iov_len: raw.count - skip)
                }
            }
            // The arrays' storage does not move while `chunks` is not mutated,
            // which holds until writev returns.
            return Int(Glibc.writev(fd.rawValue, iov.baseAddress, Int32(count)))
        }
    }

    private func consumeWritten(_ written: Int) {
        var remaining = written
        pendingBytes -= written
        bytesWritten &+= written
        while remaining > 0, !chunks.isEmpty {
            let available = chunks[0].bytes.count - headOffset
            if remaining >= available {
                remaining -= available
                var written = chunks.removeFirst()
                if written.owned { reactor.outputBuffers.give(&written.bytes) }
                headOffset = 0
            } else {
                headOffset += remaining
                remaining = 0
            }
        }
    }

    /// Closes once everything queued is written.
    package func closeAfterFlushing() {
        guard state != .closed else { return }
        closeAfterFlush = true
        if chunks.isEmpty && state == .open { close() } else { flush() }
    }

    /// Sends FIN once everything queued is written (the peer may still talk).
    package func shutdownWriteAfterFlushing() {
        guard state != .closed else { return }
        shutdownAfterFlush = true
        flush()
    }

    // MARK: Interest

    private func wantedInterest() -> UInt32 {
        if state == .connecting { return Reactor.writable }
        var events: UInt32 = 0
        if readingWanted && !peerClosedWrite { events |= Reactor.readable | Reactor.peerHalfClosed }
        if !chunks.isEmpty { events |= Reactor.writable }
        return events
    }

    private func updateInterest() {
        guard state != .closed else { return }
        let wanted = wantedInterest()
        guard wanted != interest else { return }
        interest = wanted
        try? reactor.modify(fd, events: wanted)
    }

    // MARK: Deadline

    /// Sets the connection's one deadline, moving it in place when it exists.
    /// A closed connection takes no deadline: its owner may already be
    /// letting it go, and a timer must never outlive it.
    /// The timer is held for the connection's life (set and cleared a few
    /// times per request, it costs a heap sift, never a new closure) and
    /// freed at teardown.
    package func setDeadline(after duration: Duration) {
        setDeadline(after: Timeout(duration))
    }

    package func setDeadline(after timeout: Timeout) {
        guard state != .closed else { return }
        let at = reactor.now + timeout
        // Unowned, not weak: a weakly referenced object gets a side table
        // that slows every retain and release of it; the timer cannot
        // outlive the connection (freed at teardown, or in deinit).
        let timer = deadline ?? reactor.holdTimer { [unowned self] in
            guard self.state != .closed else { return }
            self.delegate?.connectionDeadline(self)
        }
        deadline = timer
        reactor.reschedule(timer, at: at)
    }

    package func clearDeadline() {
        reactor.disarm(deadline)
    }

    // MARK: Closing

    private func fail(_ code: Int32) {
        guard state != .closed else { return }
        teardown()
        delegate?.connectionFailed(self, errno: code)
        delegate?.connectionDidClose(self)
        delegate = nil
    }

    /// Closes now; queued output is dropped.
    package func close() {
        guard state != .closed else { return }
        teardown()
        delegate?.connectionDidClose(self)
        delegate = nil
    }

    /// Closes with RST: the peer must not take what it got for a whole answer.
    package func abort() {
        guard state != .closed else { return }
        _ = cs_set_linger_zero(fd.rawValue)
        teardown()
        delegate?.connectionDidClose(self)
        delegate = nil
    }

    private func teardown() {
        state = .closed
        reactor.cancel(deadline)
        deadline = nil
        reactor.unregister(fd)
        socket.take()?.close()
        chunks = []
        pendingBytes = 0
    }
}
