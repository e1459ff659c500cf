import CSystem
import Glibc

/// A descriptor with exactly one owner: swift-system's `FileDescriptor`
/// discipline, made move-only. It cannot be copied, so two owners cannot
/// both close it; `close()` consumes it, so it cannot be used after; and
/// one that goes out of scope without being closed or handed on is closed
/// by its `deinit`, so an early `throw` or `return` on an error path
/// cannot leak it. The copyable `FileDescriptor` stays the borrowed view
/// (`borrowed`) the reactor and the connections use while the owner keeps it.
package struct OwnedDescriptor: ~Copyable {
    private let raw: Int32

    /// Takes ownership of a descriptor number a system call just returned.
    package init(adopting rawValue: Int32) {
        raw = rawValue
    }

    /// The number, for system calls and the reactor; valid while `self` lives.
    package var borrowed: FileDescriptor { FileDescriptor(rawValue: raw) }

    package var rawValue: Int32 { raw }

    /// Closes it now (errors from close(2) are not actionable: the number
    /// is released either way on Linux).
    package consuming func close() {
        let raw = self.raw
        discard self
        _ = Glibc.close(raw)
    }

    /// Gives up ownership without closing: for a descriptor handed to a
    /// child that keeps it, or to an owner that closes it by number.
    package consuming func release() -> FileDescriptor {
        let raw = self.raw
        discard self
        return FileDescriptor(rawValue: raw)
    }

    deinit {
        _ = Glibc.close(raw)
    }

    /// Opens a path (`O_CLOEXEC` is always added).
    package static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(SystemError) -> OwnedDescriptor {
        let fd: Int32
        do throws(SystemError) {
            fd = try retryingEINTR("open") { Glibc.open(path, flags | O_CLOEXEC, mode) }
        } catch {
            throw SystemError("open", errno: error.errno, context: path)
        }
        return OwnedDescriptor(adopting: fd)
    }

    // The borrowed view's operations, for convenience.

    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> FileDescriptor.ReadResult {
        try borrowed.read(into: buffer)
    }

    package func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        try borrowed.write(bytes)
    }

    package func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        try borrowed.writeAll(bytes)
    }

    package func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        try borrowed.writeAll(bytes)
    }
}

/// A pipe whose ends are close-on-exec, each owned: the child's end is
/// dup2'ed into place by spawn and then dropped (closed) by the parent.
package struct PipePair: ~Copyable {
    package var readEnd: OwnedDescriptor
    package var writeEnd: OwnedDescriptor

    package init(nonblockingRead: Bool, nonblockingWrite: Bool = false) throws(SystemError) {
        var fds: [Int32] = [-1, -1]
        if cs_pipe(&fds, nonblockingRead ? 1 : 0, nonblockingWrite ? 1 : 0) != 0 { throw SystemError("pipe2") }
        readEnd = OwnedDescriptor(adopting: fds[0])
        writeEnd = OwnedDescriptor(adopting: fds[1])
    }

    /// After the child has its copy of the write end: closes ours and hands
    /// back the read end (the parent's half of a child's output pipe).
    package consuming func closingWriteEnd() -> OwnedDescriptor {
        writeEnd.close()
        return readEnd
    }

    /// Hands the write end over to another owner (one that closes it by
    /// number, e.g. after sending it to another process) and keeps the read end.
    package consuming func handingOverWriteEnd(to holder: inout [FileDescriptor]) -> OwnedDescriptor {
        holder.append(writeEnd.release())
        return readEnd
    }

    /// The write end's number of an optional pipe, without taking it.
    package static func writeEnd(of pipe: borrowing PipePair?) -> FileDescriptor? {
        switch pipe {
        case .some(let pair): pair.writeEnd.borrowed
        case .none: nil
        }
    }
}
