import CSystem
import Glibc

/// What to start and how; everything posix_spawn needs.
package struct SpawnRequest {
    package var argv: [String]
    /// Full environment, `KEY=VALUE`.
    package var environment: [String]
    package var directory: String?
    package var umask: UInt32?
    /// nil = inherit drover's own descriptor.
    package var stdin: FileDescriptor?
    package var stdout: FileDescriptor?
    package var stderr: FileDescriptor?
    /// A new session (workers) or only a new process group (tini mode, to keep the terminal).
    package var newSession: Bool = true
    /// CPUs the child is pinned to from its start; empty = drover's own mask.
    package var cpus: [Int] = []

    package init(argv: [String], environment: [String], directory: String? = nil, umask: UInt32? = nil,
                stdin: FileDescriptor? = nil, stdout: FileDescriptor? = nil, stderr: FileDescriptor? = nil) {
        self.argv = argv
        self.environment = environment
        self.directory = directory
        self.umask = umask
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Starts processes with posix_spawn (never a bare fork in a process that
/// may have threads). The child gets its own session, the given stdio,
/// no other inherited descriptor, an empty signal mask and default handlers.
package enum Spawner {
    package static func spawn(_ request: SpawnRequest) throws(SystemError) -> pid_t {
        guard let program = request.argv.first, !program.isEmpty else {
            throw SystemError("posix_spawn", errno: ENOENT, context: "(empty command)")
        }
        // posix_spawn cannot set a umask; the reactor thread is the only one
        // creating files, so setting it around the call is safe.
        let previousMask = request.umask.map { Glibc.umask(mode_t($0)) }
        defer { if let previousMask { _ = Glibc.umask(previousMask) } }

        var pid: pid_t = 0
        let cpus = request.cpus.map { Int32(truncatingIfNeeded: $0) }
        let code = withCStringArray(request.argv) { argv in
            withCStringArray(request.environment) { envp in
                let call = { (dir: UnsafePointer<CChar>?) in
                    cpus.withUnsafeBufferPointer { cpuList in
                        cs_spawn(&pid, program, argv, envp, dir,
                                 request.stdin?.rawValue ?? -1, request.stdout?.rawValue ?? -1,
                                 request.stderr?.rawValue ?? -1,
                                 request.newSession ? 1 : 0, 1, program.contains("/") ? 0 : 1,
                                 cpuList.baseAddress, Int32(cpuList.count))
                    }
                }
                if let directory = request.directory { return directory.withCString { call($0) } }
                return call(nil)
            }
        }
        if code != 0 {
            // EINVAL with a CPU list: none of those CPUs is allowed to drover now.
            let pinned = request.cpus.isEmpty ? "" : " (pinned to CPUs \(request.cpus.map(String.init).joined(separator: ",")))"
            throw SystemError("posix_spawn", errno: code, context: program + pinned)
        }
        return pid
    }
}

/// Passes `[String]` as a NULL-terminated `char *const []` for the duration of `body`.
package func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension Spawner {
    /// tini's `isolate_child`, done from the parent: when drover's stdin is
    /// the terminal and drover is its foreground, the child's process group
    /// becomes the foreground, so the child can read the terminal (an
    /// interactive `sh`) instead of being stopped by SIGTTIN at its first
    /// read. posix_spawn runs no code in the child, so the child may have
    /// reached that read (and stopped) already: SIGCONT resumes it, now in
    /// the foreground. drover keeps SIGTTOU blocked, so the call is allowed
    /// from what becomes the background. Returns whether it was done.
    @discardableResult
    package static func giveTerminalForeground(to group: pid_t) -> Bool {
        guard group > 1, isatty(STDIN_FILENO) == 1, tcgetpgrp(STDIN_FILENO) == getpgrp() else { return false }
        guard tcsetpgrp(STDIN_FILENO, group) == 0 else { return false }
        _ = kill(-group, SIGCONT)
        return true
    }
}
