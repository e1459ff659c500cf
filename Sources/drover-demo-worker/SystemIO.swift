// Small wrappers over raw file descriptors. Output goes through write(2)
// directly rather than stdio: under the supervisor stdout is a pipe, and
// stdio would buffer the start-up line until exit.

import CSystem
import Glibc

/// Writes one line to stdout (fd 1), unbuffered.
func logLine(_ message: String) { writeFully(1, Array((message + "\n").utf8)) }

/// Writes one line to stderr (fd 2), unbuffered.
func logError(_ message: String) { writeFully(2, Array((message + "\n").utf8)) }

/// Best-effort blocking write of all bytes to a blocking fd (stdout/stderr).
private func writeFully(_ fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

enum WriteOutcome { case done, failed }

/// Writes all of `bytes` to a non-blocking socket, waiting with poll(2) for
/// buffer space when the peer is slow, for at most `timeoutMs` in total.
/// Used where the single-threaded worker is committed to one connection
/// anyway (streaming responses). EPIPE/ECONNRESET report `.failed`; SIGPIPE
/// is ignored process-wide, so a vanished client never kills the worker.
func writeAll(_ fd: Int32, _ bytes: [UInt8], timeoutMs: Int = 30_000) -> WriteOutcome {
    let deadline = cs_monotonic_ns() + UInt64(timeoutMs) * 1_000_000
    return bytes.withUnsafeBytes { raw -> WriteOutcome in
        var offset = 0
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            guard n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) else { return .failed }
            let now = cs_monotonic_ns()
            guard now < deadline else { return .failed }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
        }
        return .done
    }
}

/// glibc's malloc_trim(0), looked up at run time: the Glibc module does not
/// export <malloc.h>, and CSystem is shared code we leave alone.
func releaseFreedMemory() {
    typealias Trim = @convention(c) (Int) -> Int32
    guard let symbol = dlsym(nil, "malloc_trim") else { return }
    _ = unsafeBitCast(symbol, to: Trim.self)(0)
}
