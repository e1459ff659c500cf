import Foundation
import Testing

/// tini mode on a terminal: the child gets the terminal's foreground
/// (`tcsetpgrp`, as tini's `isolate_child`), so it can read from it. Driven
/// through a real pseudo-terminal by python3's pty module: drover runs as
/// the session leader of a new pty, as under `docker run -it` or a shell.
@Suite struct TiniTerminalTests {
    /// Runs `drover run -- ARGV` on a fresh pty, types `input` and waits for
    /// `expect` in what the terminal shows; prints `found=... status=...`.
    static let driver = #"""
    import os, pty, select, signal, sys, time
    drover, typed, expect = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(drover, [drover, "run", "--"] + sys.argv[4:])
    out = b""
    def pump(timeout):
        global out
        r, _, _ = select.select([fd], [], [], timeout)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return False
        return True
    time.sleep(0.3)
    os.write(fd, typed)
    deadline = time.time() + 8
    while time.time() < deadline and expect not in out:
        if not pump(0.1):
            break
    status = "hung"
    deadline = time.time() + 5
    while time.time() < deadline:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            status = str(os.waitstatus_to_exitcode(st))
            break
        pump(0.05)
    if status == "hung":
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    print("found=%s status=%s" % (expect in out, status))
    print(repr(out[-300:]))
    """#

    static func onTerminal(typing input: String, expect: String, _ argv: [String]) throws -> ProcessResult {
        try runCommand("/usr/bin/env", ["python3", "-c", driver, Binaries.drover, input, expect] + argv, timeout: 30)
    }

    @Test func childReadsTheTerminalInsteadOfStopping() throws {
        // Before: `read` in the background group got SIGTTIN and stopped; drover waited forever.
        let result = try Self.onTerminal(typing: "hello\n", expect: "got:hello",
                                         ["/bin/sh", "-c", "read line; echo got:$line; exit 7"])
        #expect(result.stdout.contains("found=True status=7"), "\(result.stdout)\(result.stderr)")
    }

    @Test func interactiveShellRunsCommandsTypedAtTheTerminal() throws {
        let result = try Self.onTerminal(typing: "echo got-$((6*7))\nexit 5\n", expect: "got-42", ["/bin/sh"])
        #expect(result.stdout.contains("found=True status=5"), "\(result.stdout)\(result.stderr)")
    }
}
