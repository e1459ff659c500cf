import CSystem
import Glibc
import System

/// Writes to drover's own stdout or stderr without ever blocking the reactor.
/// A pipe or terminal is reopened through /proc/self/fd as a separate,
/// non-blocking open file description (setting O_NONBLOCK on the inherited
/// one would change it for every process sharing it); a socket gets
/// MSG_DONTWAIT sends; regular files and /dev/null never block and are
/// written directly. When the reader is slower than the writers, up to
/// `limit` bytes wait here and the oldest are dropped beyond that.
package final class ConsoleWriter {
    private enum Mode { case direct, nonblocking, socket }

    private let fd: FileDescriptor
    private let mode: Mode
    private unowned let reactor: Reactor?
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var watching = false
    private let limit: Int
    package private(set) var droppedBytes = 0

    package init(descriptor: FileDescriptor, reactor: Reactor?, limit: Int = 1 << 20) {
        self.reactor = reactor
        self.limit = limit
        var info = stat()
        let kind = fstat(descriptor.rawValue, &info) == 0 ? info.st_mode & S_IFMT : 0
        if kind == S_IFSOCK {
            fd = descriptor
            mode = .socket
        } else if kind == S_IFIFO || (kind == S_IFCHR && descriptor.isTerminal) {
            let reopened = Glibc.open("/proc/self/fd/\(descriptor.rawValue)", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_APPEND)
            if reopened >= 0 {
                fd = FileDescriptor(rawValue: reopened)
                mode = .nonblocking
            } else {
                fd = descriptor
                mode = .direct
            }
        } else {
            fd = descriptor
            mode = .direct
        }
    }

    package func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    package func write(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if pending.count == pendingStart {
            let written = attempt(bytes)
            if written == bytes.count { return }
            enqueue(UnsafeRawBufferPointer(rebasing: bytes[written...]))
        } else {
            enqueue(bytes)
        }
        flush()
    }

    private func enqueue(_ bytes: UnsafeRawBufferPointer) {
        if pendingStart > 0 && pendingStart * 2 > pending.count {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
        pending.append(contentsOf: bytes)
        let excess = (pending.count - pendingStart) - limit
        if excess > 0 {
            droppedBytes += excess
            pendingStart += excess
        }
    }

    /// Returns bytes written; -1 means the descriptor is gone (output is discarded).
    private func attempt(_ bytes: UnsafeRawBufferPointer) -> Int {
        switch mode {
        case .direct:
            do { try fd.writeAll(bytes) } catch {}
            return bytes.count
        case .nonblocking:
            do { return try fd.write(bytes) } catch { return bytes.count }
        case .socket:
            while true {
                let n = send(fd.rawValue, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                if n >= 0 { return n }
                let code = cs_errno()
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { return 0 }
                return bytes.count
            }
        }
    }

    private func flush() {
        while pendingStart < pending.count {
            let written = pending.withUnsafeBytes { attempt(UnsafeRawBufferPointer(rebasing: $0[pendingStart...])) }
            if written == 0 { break }
            pendingStart += written
        }
        if pendingStart == pending.count {
            pending.removeAll(keepingCapacity: pending.count <= 64 * 1024)
            pendingStart = 0
            if watching, let reactor {
                reactor.unregister(fd)
                watching = false
            }
        } else if !watching, let reactor {
            do {
                try reactor.register(fd, events: Reactor.writable) { [unowned self] _ in self.flush() }
                watching = true
            } catch {
                // Not pollable: fall back to waiting writes rather than losing output.
                pending.withUnsafeBytes { try? fd.writeAll(UnsafeRawBufferPointer(rebasing: $0[pendingStart...])) }
                pending.removeAll()
                pendingStart = 0
            }
        }
    }

    /// At exit: give the reader a moment to take what is still queued.
    package func drain(timeoutMilliseconds: Int32 = 1000) {
        var remaining = timeoutMilliseconds
        while pendingStart < pending.count && remaining > 0 {
            var pfd = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
            _ = poll(&pfd, 1, 50)
            remaining -= 50
            let written = pending.withUnsafeBytes { attempt(UnsafeRawBufferPointer(rebasing: $0[pendingStart...])) }
            pendingStart += max(0, written)
        }
    }
}
