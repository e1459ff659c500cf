import Foundation
import Testing
@testable import Supervision

/// Issue 14: the crash loops people really have back off and give up, and
/// the reason a worker died is in the log, `status` and `status --json`.
@Suite struct CrashLoopTests {
    /// A model server that loads, answers its health check, then dies on
    /// the first real work: up for `ms` milliseconds, a last word on stderr.
    static func diesAfterHealthy(ms: Int) -> String {
        """
        import http.server, os, sys, threading
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
            def log_message(self, *a): pass
        srv = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H)
        def die():
            sys.stderr.write("RuntimeError: CUDA error: out of memory\\n"); sys.stderr.flush(); os._exit(3)
        threading.Timer(\(Double(ms) / 1000), die).start()
        srv.serve_forever()
        """
    }

    @Test func aWorkerThatPassesItsProbeThenDiesBacksOffAndGoesFatal() throws {
        let port = TestPorts.block(2)
        let daemon = try ControlledDrover("""
            [program:model]
            command = python3 %(here)s/model.py
            port = \(port)
            health_path = /health
            health_interval = 50ms
            startsecs = 2
            startretries = 2
            backoff_max = 200ms
            """, label: "crashloop", files: ["model.py": Self.diesAfterHealthy(ms: 300)])
        // Before: every run passed its probe, went RUNNING, and was respawned at
        // once with failures still 0: restarted forever, never FATAL.
        #expect(waitUntil(timeout: 20) { daemon.status().first?["state"] as? String == "FATAL" },
                "\(daemon.status())")
        let model = daemon.status().first ?? [:]
        #expect(model["restarts"] as? Int == 2, "the first start and startretries = 2 retries: \(model)")
        #expect((model["last_output"] as? [String])?.last == "RuntimeError: CUDA error: out of memory", "\(model)")
        #expect(daemon.drover.lines(containing: "model:model BACKOFF").count == 2)
        let fatal = daemon.drover.lines(containing: "model:model FATAL").first ?? ""
        #expect(fatal.contains("gave up after 3 failed starts in a row: RuntimeError: CUDA error: out of memory"), "\(fatal)")
        usleep(600_000)
        #expect(daemon.status().first?["state"] as? String == "FATAL", "FATAL is final")
    }

    @Test func fatalActionShutdownFiresForThatCrashLoop() throws {
        let dir = TempDir("crashloop-fatal")
        defer { dir.cleanup() }
        let port = TestPorts.block(2)
        _ = dir.write("model.py", Self.diesAfterHealthy(ms: 200))
        let drover = try DroverHarness(config: """
            [program:model]
            command = python3 %(here)s/model.py
            port = \(port)
            health_path = /health
            health_interval = 50ms
            startsecs = 1
            startretries = 1
            backoff_max = 100ms
            fatal_action = shutdown
            """, in: dir)
        defer { drover.terminate() }
        #expect(drover.waitForExit(timeout: 20) == 1, "fatal_action = shutdown: drover stops and exits 1")
    }

    @Test func aWorkerThatStaysUpStartsecsIsRestartedAtOnce() throws {
        // The other side of the rule: past startsecs an exit is not a failed
        // start, so it is respawned without backoff and never goes FATAL.
        let daemon = try ControlledDrover("""
            [program:job]
            command = /bin/sh -c 'sleep 0.4; echo "done for now" >&2; exit 4'
            startsecs = 0.2
            startretries = 1
            """, label: "stayedup")
        #expect(waitUntil(timeout: 15) { (daemon.status().first?["restarts"] as? Int ?? 0) >= 3 }, "\(daemon.status())")
        #expect(daemon.drover.lines(containing: "job:job BACKOFF").isEmpty)
        #expect(daemon.drover.lines(containing: "job:job FATAL").isEmpty)
        let exited = daemon.drover.lines(containing: "job:job EXITED").first ?? ""
        #expect(exited.contains("exit status 4; not expected: done for now (more: drover tail --stderr job:job)"), "\(exited)")
    }

    @Test func theReasonAWorkerDiesIsInTheLogStatusAndJSON() throws {
        let daemon = try ControlledDrover("""
            [program:web]
            command = /bin/sh -c 'echo "loading model"; echo "Traceback (most recent call last):" >&2; echo "boom: model file /models/m.bin missing" >&2; exit 1'
            startsecs = 1
            startretries = 1
            backoff_max = 100ms
            """, label: "lastwords")
        #expect(waitUntil(timeout: 15) { daemon.status().first?["state"] as? String == "FATAL" }, "\(daemon.status())")
        let web = daemon.status().first ?? [:]
        #expect(web["last_output"] as? [String] == ["Traceback (most recent call last):", "boom: model file /models/m.bin missing"],
                "stderr only, this run only: \(web)")
        let quick = daemon.drover.lines(containing: "web:web exited too quickly").first ?? ""
        #expect(quick.contains("(exit status 1): boom: model file /models/m.bin missing (more: drover tail --stderr web:web)"), "\(quick)")
        let status = try daemon.cli("status", "web")
        #expect(status.stdout.contains("boom: model file /models/m.bin missing"), "\(status.stdout)")
        // Worker output is mirrored by default (SPEC stdout_mirror = true).
        #expect(daemon.drover.waitForLine("web | loading model") != nil)
    }

    @Test func aWorkerThatSaidNothingHasNoLastWordsFromAnEarlierRun() throws {
        let daemon = try ControlledDrover("""
            [program:mute]
            command = /bin/sh -c 'if [ -f %(here)s/spoke ]; then exit 5; fi; touch %(here)s/spoke; echo "first run only" >&2; exit 5'
            startsecs = 1
            startretries = 1
            backoff_max = 100ms
            """, label: "mute")
        #expect(waitUntil(timeout: 15) { daemon.status().first?["state"] as? String == "FATAL" }, "\(daemon.status())")
        #expect(daemon.status().first?["last_output"] as? [String] == [], "\(daemon.status())")
    }

    @Test func mirroredLinesAreColoredPerProgramAtATerminal() {
        let plain = Supervisor.mirrorPrefix("web_01", program: "web", color: false)
        #expect(plain == "web_01 | ")
        let colored = Supervisor.mirrorPrefix("web_01", program: "web", color: true)
        #expect(colored.hasPrefix("\u{1B}[") && colored.hasSuffix("web_01 |\u{1B}[0m "), "\(colored.debugDescription)")
        #expect(Supervisor.mirrorPrefix("web_02", program: "web", color: true).hasPrefix(String(colored.prefix(5))),
                "one color per program")
        #expect(!colored.contains("[31m"), "red is for errors")
    }
}
