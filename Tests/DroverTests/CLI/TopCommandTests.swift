import Foundation
import Testing

/// `drover top` (SPEC §2): one frame for scripts, and a live view that
/// quits on `q` or Ctrl-C and gives the terminal back.
@Suite struct TopCommandTests {
    /// Columns of the line of `top` output that starts with `name`.
    static func columns(_ output: String, _ name: String) -> [String]? {
        output.split(separator: "\n").first { $0.hasPrefix(name + " ") }?.split(separator: " ").map(String.init)
    }

    @Test func onceShowsEveryWorkerAndTheProxyUnderLoad() throws {
        let fixture = try ProxyFixture("top-once", .init(numprocs: 3))
        // Load: two clients in a loop through the proxy while top measures.
        let stop = LockedFlag()
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread {
                while !stop.isSet { _ = fixture.get("/sleep?ms=20") }
                group.leave()
            }.start()
        }
        defer { stop.set(); group.wait() }
        Thread.sleep(forTimeInterval: 0.3)
        let result = try runCommand(Binaries.drover, ["top", "--once", "--interval", "0.7", "-s", fixture.socket])
        #expect(result.status == 0, "\(result.stderr)")
        let output = result.stdout
        #expect(output.hasPrefix("drover "), "\(output)")
        #expect(!output.contains("\u{1B}"), "no terminal escapes in --once output")
        #expect(output.contains("NAME") && output.contains("CPU%") && output.contains("RSS") && output.contains("p99"))

        let pids = fixture.workerPids()
        #expect(pids.count == 3)
        var workerRate = 0.0
        for index in 0..<3 {
            let name = "w:w_0\(index)"
            let row = try #require(Self.columns(output, name), "a line for \(name) in:\n\(output)")
            // NAME STATE HEALTH PID CPU% RSS INFLIGHT REQ/S p50 p99
            #expect(row.count == 10, "\(row)")
            #expect(row[1] == "RUNNING" && row[2] == "ready", "\(row)")
            #expect(pids.contains(Int32(row[3]) ?? -1), "pid \(row[3]) is one of \(pids)")
            #expect(Double(row[4]) != nil, "CPU% measured: \(row)")
            #expect(row[5].hasSuffix("M") || row[5].hasSuffix("K"), "RSS measured: \(row)")
            workerRate += Double(row[7]) ?? 0
        }
        #expect(workerRate > 5, "workers answered requests during the interval:\n\(output)")
        // PROXY LISTEN UPSTREAM READY REQ/S QUEUE WAIT-p50 WAIT-p99 RETRIES 5XX
        let proxy = try #require(Self.columns(output, "front"), "a line for the proxy in:\n\(output)")
        #expect(proxy.count == 10, "\(proxy)")
        #expect(proxy[1] == "127.0.0.1:\(fixture.listenPort)" && proxy[2] == "w" && proxy[3] == "3/3", "\(proxy)")
        #expect((Double(proxy[4]) ?? 0) > 5, "proxy req/s:\n\(output)")
        #expect(Int(proxy[5]) != nil, "queue length: \(proxy)")

        let unreachable = try runCommand(Binaries.drover, ["top", "--once", "-s", fixture.dir.file("nope.sock")])
        #expect(unreachable.status == 4)
        #expect(unreachable.stderr.contains("nope.sock"))
        #expect(try runCommand(Binaries.drover, ["top", "--bogus"]).status == 2)
    }

    /// Through a pty: the view draws, `q` quits within a second with the
    /// terminal's echo and line mode back; so do Ctrl-C and SIGTERM.
    @Test func liveViewQuitsOnKeyAndSignalRestoringTheTerminal() throws {
        let fixture = try ProxyFixture("top-live", .init(numprocs: 2))
        let driver = fixture.dir.write("drive.py", """
            import json, os, pty, select, signal, sys, termios, time
            binary, sock, how = sys.argv[1], sys.argv[2], sys.argv[3]
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(binary, [binary, "top", "-s", sock])
            out = b""
            def pump(seconds, until=None):
                global out
                end = time.time() + seconds
                while time.time() < end and not (until and until(out)):
                    r, _, _ = select.select([fd], [], [], 0.02)
                    if r:
                        try:
                            chunk = os.read(fd, 65536)
                        except OSError:
                            return
                        if not chunk:
                            return
                        out += chunk
            # Wait for a frame with rates (the second one).
            pump(10, lambda o: o.count(b"w:w_01") >= 2)
            drawn = b"w:w_01" in out and b"PROXY" in out
            raw = not (termios.tcgetattr(fd)[3] & termios.ECHO)
            start = time.time()
            if how == "q":
                os.write(fd, b"q")
            elif how == "ctrl-c":
                os.write(fd, b"\\x03")
            else:
                os.kill(pid, signal.SIGTERM)
            exited, status = None, 0
            while time.time() - start < 3:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    exited = time.time() - start
                    break
                pump(0.01)
            if exited is None:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
            pump(0.2)
            lflag = termios.tcgetattr(fd)[3]
            print(json.dumps({
                "drawn": drawn, "raw_while_running": raw, "quit_after": exited,
                "code": os.waitstatus_to_exitcode(status),
                "echo_back": bool(lflag & termios.ECHO), "icanon_back": bool(lflag & termios.ICANON),
                "left_alt_screen": out.rstrip().endswith(b"\\x1b[?1049l"),
                "tail": out[-300:].decode("utf-8", "replace"),
            }))
            """)
        for (how, code) in [("q", 0), ("ctrl-c", 0), ("sigterm", 128 + 15)] {
            let result = try runCommand("/usr/bin/env", ["python3", driver, Binaries.drover, fixture.socket, how], timeout: 20)
            let report = try #require(try JSONSerialization.jsonObject(with: result.stdout.data(using: .utf8)!) as? [String: Any],
                                      "\(how): \(result.stdout) \(result.stderr)")
            #expect(report["drawn"] as? Bool == true, "\(how): frame drawn: \(report)")
            #expect(report["raw_while_running"] as? Bool == true, "\(how): no echo while running")
            let after = report["quit_after"] as? Double
            #expect(after != nil && after! < 1.0, "\(how): quit within a second: \(report)")
            #expect(report["code"] as? Int == code, "\(how): exit code: \(report)")
            #expect(report["echo_back"] as? Bool == true && report["icanon_back"] as? Bool == true, "\(how): terminal restored: \(report)")
            #expect(report["left_alt_screen"] as? Bool == true, "\(how): alternate screen left: \(report)")
        }
    }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
