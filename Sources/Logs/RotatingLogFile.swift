import CSystem
import Glibc
import System

/// A log file rotated at `maxBytes` keeping `backups` old files
/// (`name.1` newest … `name.N` oldest), as supervisord does. `maxBytes == 0`
/// never rotates, and neither does anything that is not a regular file
/// (/dev/null, a FIFO). Regular-file writes do not wait on a reader, so they
/// are done directly on the reactor.
///
/// A failing system call never loops: when opening, rotating or writing
/// fails (a directory at `name.1`, a read-only directory, a full disk), the
/// output is dropped (the worker's ring buffer still has it for `tail`),
/// the fault is reported once through `onFault`, and the next attempt waits
/// `retryInterval`. When an attempt works again, that is reported once too.
package final class RotatingLogFile {
    package let path: String
    private let maxBytes: Int
    private let backups: Int
    private var fd: OwnedDescriptor?
    private var size = 0
    private var rotates = true
    /// While failing: no attempt before this instant; writes are dropped.
    private var nextAttempt: Instant?
    private var notice = FaultNotice()
    private var backupNotice = FaultNotice()
    private var closed = false
    package private(set) var lastError: SystemError?
    /// Bytes dropped because the file could not be written, since the start.
    package private(set) var droppedBytes: UInt64 = 0
    private var droppedInFault: UInt64 = 0
    /// Failed system calls, since the start (each is one attempt, never a loop).
    package private(set) var failedCalls = 0
    /// Told about each fault once, and once when it ends.
    package var onFault: ((String) -> Void)?
    package static let retryInterval: Duration = .seconds(1)

    /// Throws when the file cannot be opened at first (the caller reports it);
    /// later faults are handled here.
    package init(path: String, maxBytes: Int, backups: Int) throws(SystemError) {
        self.path = path
        self.maxBytes = max(0, maxBytes)
        self.backups = max(0, backups)
        fd = try Self.openFile(path)
        measure()
    }

    /// Never fails: a file that cannot be opened yet is reported through
    /// `onFault` and tried again on later writes.
    package init(path: String, maxBytes: Int, backups: Int, onFault: @escaping (String) -> Void) {
        self.path = path
        self.maxBytes = max(0, maxBytes)
        self.backups = max(0, backups)
        self.onFault = onFault
        do throws(SystemError) {
            fd = try Self.openFile(path)
            measure()
        } catch {
            failed(error, doing: "cannot open log file \(path)")
        }
    }

    private static func openFile(_ path: String) throws(SystemError) -> OwnedDescriptor {
        try OwnedDescriptor.open(path, O_WRONLY | O_APPEND | O_CREAT, mode: 0o644)
    }

    private func measure() {
        guard let raw = fd?.rawValue else { return }
        var info = stat()
        if fstat(raw, &info) == 0 {
            size = Int(info.st_size)
            rotates = (info.st_mode & S_IFMT) == S_IFREG
        } else {
            size = 0
            rotates = false
        }
    }

    package var isFailing: Bool { notice.isFailing }

    package func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    package func write(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty, !closed else { return }
        guard ready() else { return drop(bytes.count) }
        var rest = bytes
        var rotationsWithoutProgress = 0
        // One read from a fast worker can exceed maxBytes: split it so no
        // file grows past the limit, at a line end when there is one.
        while maxBytes > 0 && rotates && size + rest.count > maxBytes {
            let room = maxBytes - size
            var cut = 0
            if room > 0, let newline = UnsafeRawBufferPointer(rebasing: rest[..<room]).lastIndex(of: UInt8(ascii: "\n")) {
                cut = newline + 1
            } else if size == 0 {
                cut = min(room, rest.count)
            }
            if cut > 0 {
                guard append(UnsafeRawBufferPointer(rebasing: rest[..<cut])) else { return drop(rest.count) }
                rest = UnsafeRawBufferPointer(rebasing: rest[cut...])
                rotationsWithoutProgress = 0
            } else {
                rotationsWithoutProgress += 1
                // A fresh file that is still full (another writer at the same
                // path): give up on this chunk rather than spin.
                if rotationsWithoutProgress > 1 { return drop(rest.count) }
            }
            guard rotate() else { return drop(rest.count) }
        }
        if !append(rest) { drop(rest.count) }
    }

    /// Whether an attempt may be made now: always when healthy; when
    /// failing, once per retryInterval (reopening the file if it is closed).
    private func ready() -> Bool {
        if let nextAttempt {
            if Instant.now < nextAttempt { return false }
            self.nextAttempt = nil
        }
        if fd == nil {
            do throws(SystemError) {
                fd = try Self.openFile(path)
                measure()
            } catch {
                failed(error, doing: "cannot open log file \(path)")
                return false
            }
        }
        return true
    }

    private func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty else { return true }
        guard let raw = fd?.rawValue else { return false }
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(raw, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 {
                offset += n
                size += n
                continue
            }
            let code = n < 0 ? cs_errno() : EIO
            if code == EINTR { continue }
            failed(SystemError("write", errno: code, context: path), doing: "cannot write log file \(path)")
            return false
        }
        succeeded()
        return true
    }

    private func rotate() -> Bool {
        guard let raw = fd?.rawValue else { return false }
        if backups == 0 {
            // No backups: start the file over (O_APPEND writes follow the new end).
            if ftruncate(raw, 0) != 0 {
                failed(SystemError("ftruncate", context: path), doing: "cannot rotate log file \(path)")
                return false
            }
            size = 0
            return true
        }
        var backupsMoved = true
        for index in stride(from: backups - 1, through: 1, by: -1) {
            // An older backup that cannot move is overwritten by the next
            // one; the rotation itself goes on.
            if rename("\(path).\(index)", "\(path).\(index + 1)") != 0 {
                let code = cs_errno()
                if code != ENOENT {
                    backupsMoved = false
                    failedCalls += 1
                    report(backupNotice.failed("cannot keep backups of log file \(path): rename \(path).\(index) -> \(path).\(index + 1): \(Self.reason(code)); \(path).\(index) is overwritten instead"))
                }
            }
        }
        if backupsMoved, let line = backupNotice.succeeded() {
            report("backups of log file \(path) rotate again: \(line)")
        }
        if rename(path, "\(path).1") != 0 {
            let code = cs_errno()
            if code != ENOENT {
                failed(SystemError("rename", errno: code, context: "\(path) -> \(path).1"), doing: "cannot rotate log file \(path)")
                return false
            }
        }
        fd.take()?.close()
        do throws(SystemError) {
            fd = try Self.openFile(path)
            measure()
        } catch {
            failed(error, doing: "cannot open log file \(path) after rotating it")
            return false
        }
        return true
    }

    private func drop(_ count: Int) {
        droppedBytes &+= UInt64(count)
        droppedInFault &+= UInt64(count)
    }

    private func failed(_ error: SystemError, doing what: String) {
        lastError = error
        failedCalls += 1
        nextAttempt = Instant.now + Self.retryInterval
        let reason = "\(what): \(Self.reason(error.errno)); output is dropped (kept in memory for tail) and retried every \(Self.retryInterval.components.seconds)s"
        report(notice.failed(reason))
    }

    private func succeeded() {
        guard notice.isFailing else { return }
        let dropped = droppedInFault
        droppedInFault = 0
        if let line = notice.succeeded() {
            report("log file \(path) is written again: \(line), \(dropped) bytes dropped")
        }
    }

    private func report(_ line: String?) {
        if let line { onFault?(line) }
    }

    private static func reason(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// After logrotate moved the file away (SIGUSR1/SIGUSR2). A failure is
    /// reported and retried on the next write.
    package func reopen() {
        guard !closed else { return }
        fd.take()?.close()
        nextAttempt = nil
        do throws(SystemError) {
            fd = try Self.openFile(path)
            measure()
        } catch {
            failed(error, doing: "cannot reopen log file \(path)")
        }
    }

    package func close() {
        closed = true
        fd.take()?.close()
    }
}
