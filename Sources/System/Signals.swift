import CSystem
import Glibc

/// The signals drover receives through its signalfd. They must be blocked in
/// the main thread before any other thread exists, or a thread that does not
/// block them may take (and lose) a SIGCHLD.
package enum Signals {
    package static let handled: [Int32] = [
        SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2,
        SIGTTIN, SIGTTOU, SIGWINCH, SIGALRM, SIGCONT,
    ]

    /// Call first thing in main. Also ignores SIGPIPE: a peer closing a
    /// socket or pipe must surface as EPIPE, not kill the supervisor.
    package static func blockHandled() {
        _ = handled.withUnsafeBufferPointer { cs_block_signals($0.baseAddress, Int32($0.count)) }
        signal(SIGPIPE, SIG_IGN)
    }

    package static func makeSignalFD() throws(SystemError) -> FileDescriptor {
        let fd = handled.withUnsafeBufferPointer { cs_signalfd($0.baseAddress, Int32($0.count)) }
        if fd < 0 { throw SystemError("signalfd") }
        return FileDescriptor(rawValue: fd)
    }

    /// `TERM`-style short name, or the number.
    package static func name(_ signal: Int32) -> String {
        if let raw = cs_signal_name(signal) { return "SIG" + String(cString: raw) }
        return String(signal)
    }

    /// Accepts `TERM`, `SIGTERM`, `term`, `15`.
    package static func number(named text: String) -> Int32? {
        if let n = Int32(text), n > 0, n < 65 { return n }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        for candidate in Int32(1)..<Int32(32) {
            if let raw = cs_signal_name(candidate), String(cString: raw) == name { return candidate }
        }
        return nil
    }

    package static func send(_ signal: Int32, toProcess pid: pid_t) -> Bool {
        kill(pid, signal) == 0
    }

    /// Sends to the whole process group led by `pgid` (each worker has its own session).
    package static func send(_ signal: Int32, toGroup pgid: pid_t) -> Bool {
        pgid > 1 && kill(-pgid, signal) == 0
    }
}

/// How a child ended, decoded from a wait status.
package enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32, coreDumped: Bool)

    package init(waitStatus status: Int32) {
        if cs_wifsignaled(status) != 0 {
            self = .signaled(cs_wtermsig(status), coreDumped: cs_wcoredump(status) != 0)
        } else {
            self = .exited(cs_wexitstatus(status))
        }
    }

    /// The shell's convention, which tini follows: 128+n for a signal.
    package var shellCode: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal, _): 128 + signal
        }
    }

    package var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signaled(let signal, let core): "terminated by \(Signals.name(signal))" + (core ? " (core dumped)" : "")
        }
    }
}

/// Collects every child that has exited: `waitpid(-1, WNOHANG)` until none is
/// left, so orphans re-parented to us (PID 1 or subreaper) are reaped too.
package enum Reaper {
    package static func reapAll(_ each: (pid_t, ExitStatus) -> Void) {
        while true {
            var status: Int32 = 0
            let pid = cs_reap_one(&status)
            if pid <= 0 { return }
            each(pid, ExitStatus(waitStatus: status))
        }
    }

    /// When not PID 1, become the child subreaper so orphaned grandchildren
    /// come back to us instead of to the host's init.
    package static func becomeSubreaperIfNeeded() throws(SystemError) {
        if getpid() == 1 { return }
        if cs_set_child_subreaper() != 0 { throw SystemError("prctl(PR_SET_CHILD_SUBREAPER)") }
    }
}
