import CSystem
import Glibc

/// A descriptor number with typed operations: the borrowed view the reactor,
/// the connections and the proxy pass around. It owns nothing; where one
/// owner must close a descriptor exactly once (spawn, pipes, log files,
/// the pidfile) the move-only `OwnedDescriptor` holds it and lends this view.
package struct FileDescriptor: Hashable, Sendable {
    package let rawValue: Int32

    package init(rawValue: Int32) { self.rawValue = rawValue }

    package static let standardInput = FileDescriptor(rawValue: 0)
    package static let standardOutput = FileDescriptor(rawValue: 1)
    package static let standardError = FileDescriptor(rawValue: 2)

    package enum ReadResult: Equatable {
        case bytes(Int)
        case wouldBlock
        case endOfFile
    }

    /// Reads into `buffer`; never blocks on a non-blocking descriptor.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> ReadResult {
        while true {
            let n = Glibc.read(rawValue, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .endOfFile }
            let code = cs_errno()
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw SystemError("read", errno: code)
        }
    }

    /// Writes what it can; returns the count written (0 when it would block).
    package func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        while true {
            let n = Glibc.write(rawValue, bytes.baseAddress, bytes.count)
            if n >= 0 { return n }
            let code = cs_errno()
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return 0 }
            throw SystemError("write", errno: code)
        }
    }

    /// Writes everything, waiting if needed: only for blocking descriptors
    /// such as regular files, where writes do not wait on a reader.
    package func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = try write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            if n == 0 {
                var pfd = pollfd(fd: rawValue, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pfd, 1, 100)
            }
            offset += n
        }
    }

    package func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        let result = bytes.withUnsafeBytes { raw -> Result<Void, SystemError> in
            do throws(SystemError) { try writeAll(raw); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    package func close() {
        _ = Glibc.close(rawValue)
    }

    package func setNonblocking(_ on: Bool = true) throws(SystemError) {
        if cs_set_nonblocking(rawValue, on ? 1 : 0) != 0 { throw SystemError("fcntl(O_NONBLOCK)") }
    }

    package func setCloseOnExec(_ on: Bool = true) throws(SystemError) {
        if cs_set_cloexec(rawValue, on ? 1 : 0) != 0 { throw SystemError("fcntl(FD_CLOEXEC)") }
    }

    package var isTerminal: Bool { isatty(rawValue) == 1 }

    /// Opens a path; `flags` are Glibc's O_* values (O_CLOEXEC is always added).
    package static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        let fd = try retryingEINTR("open") { Glibc.open(path, flags | O_CLOEXEC, mode) }
        return FileDescriptor(rawValue: fd)
    }
}

extension FileDescriptor {
    /// Writes `bytes[offset...]`; returns the count written (0 when it would block).
    package func write(_ bytes: [UInt8], from offset: Int) throws(SystemError) -> Int {
        let result = bytes.withUnsafeBytes { raw -> Result<Int, SystemError> in
            do throws(SystemError) { return .success(try write(UnsafeRawBufferPointer(rebasing: raw[offset...]))) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Reads into `buffer` from its start.
    package func read(into buffer: inout [UInt8]) throws(SystemError) -> ReadResult {
        let result = buffer.withUnsafeMutableBytes { raw -> Result<ReadResult, SystemError> in
            do throws(SystemError) { return .success(try read(into: raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}
