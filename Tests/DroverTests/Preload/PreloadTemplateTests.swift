import Foundation
import Glibc
import Testing
@testable import Supervision
@testable import System

/// python/drover_preload.py, the template that ships with drover, driven by
/// the Swift codec over a real socketpair: real python3 processes, real
/// forks, real HTTP on the workers' ports.
@Suite struct PreloadTemplateTests {
    /// A loader that records who loaded the model, and a serve function
    /// that answers what its worker sees: pid, session, environment, a random
    /// draw, and the model loaded before the fork.
    static let app = """
        import http.server, json, os, random, threading, time, _thread
        MODEL = None
        LOADED_BY = None

        def load():
            global MODEL, LOADED_BY
            MODEL = [float(i) for i in range(200000)]
            LOADED_BY = os.getpid()

        def load_large():
            # 100 MiB actually written (not lazily zero-mapped), shared with every worker.
            global MODEL, LOADED_BY
            MODEL = bytes(range(256)) * (400 * 1024)
            LOADED_BY = os.getpid()

        def load_slowly():
            # A model that takes a while to load: launches wait on the template.
            time.sleep(1.5)
            load()

        def load_with_thread():
            threading.Thread(name="tokenizer-pool", target=time.sleep, args=(60,), daemon=True).start()

        def load_with_native_thread():
            # A thread Python's threading module does not know, like an OpenMP pool.
            _thread.start_new_thread(time.sleep, (60,))

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"pid": os.getpid(), "sid": os.getsid(0), "loaded_by": LOADED_BY,
                                   "model": len(MODEL), "slot": os.environ.get("DROVER_SLOT"),
                                   "port": os.environ.get("PORT"), "greeting": os.environ.get("GREETING"),
                                   "preload_fd": os.environ.get("DROVER_PRELOAD_FD"),
                                   "random": random.random()}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        def serve(port):
            http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """

    static func start(_ load: String, in dir: TempDir) throws -> PreloadTemplatePeer {
        dir.write("preloadapp.py", app)
        return try PreloadTemplatePeer(load: "preloadapp:\(load)", serve: "preloadapp:serve", moduleDirectory: dir.path)
    }

    @Test func theTemplateSaysHelloAndForksWorkersThatServeOnTheirPorts() throws {
        let dir = TempDir("preload"); defer { dir.cleanup() }
        let template = try Self.start("load", in: dir); defer { template.stop() }

        guard case .hello(let templatePid, let runtime) = try template.receive() else {
            Issue.record("no hello; stderr: \(template.stderrText)"); return
        }
        #expect(runtime.hasPrefix("python 3.") && runtime.contains("preloadapp:load"), "\(runtime)")

        let port = TestPorts.block(2)
        try template.send(.fork(slot: 0, port: UInt16(port), environment: [PreloadEnvironmentEntry("GREETING", "bonjour")]))
        try template.send(.fork(slot: 1, port: UInt16(port + 1), environment: []))
        guard case .forked(0, let first) = try template.receive(), case .forked(1, let second) = try template.receive() else {
            Issue.record("no forked answers; stderr: \(template.stderrText)"); return
        }
        #expect(first != second && first != templatePid && second != templatePid)

        var answers: [[String: Any]] = []
        for (offset, pid) in [first, second].enumerated() {
            var answer: [String: Any]?
            #expect(waitUntil(timeout: 10) {
                answer = RawHTTP.json(RawHTTP.get(port: port + offset, "/"))
                return answer != nil
            }, "worker \(offset) serves on \(port + offset)")
            guard let answer else { return }
            answers.append(answer)
            #expect(answer["pid"] as? Int == Int(pid))
            // Its own session, so drover can signal its group without touching the template.
            #expect(answer["sid"] as? Int == Int(pid))
            // The model came from the template's load, not a load of its own.
            #expect(answer["loaded_by"] as? Int == Int(templatePid))
            #expect(answer["model"] as? Int == 200_000)
            #expect(answer["slot"] as? String == String(offset))
            #expect(answer["port"] as? String == String(port + offset))
            #expect(answer["preload_fd"] is NSNull, "the channel's descriptor does not leak into workers")
        }
        guard answers.count == 2 else { return }
        #expect(answers[0]["greeting"] as? String == "bonjour")
        #expect(answers[1]["greeting"] is NSNull, "a slot's environment stays in its worker")
        // Both inherited the template's random state; re-seeding makes them differ.
        #expect(answers[0]["random"] as? Double != answers[1]["random"] as? Double)
    }

    @Test func aWorkerKilledBySIGKILLIsReportedWithItsWaitStatus() throws {
        let dir = TempDir("preload"); defer { dir.cleanup() }
        let template = try Self.start("load", in: dir); defer { template.stop() }
        guard case .hello = try template.receive() else { Issue.record("no hello: \(template.stderrText)"); return }

        let port = TestPorts.block(1)
        try template.send(.fork(slot: 4, port: UInt16(port), environment: []))
        guard case .forked(4, let pid) = try template.receive() else { Issue.record("no forked"); return }
        #expect(waitUntil(timeout: 10) { RawHTTP.get(port: port, "/") != nil }, "worker serves")
        #expect(kill(pid, SIGKILL) == 0)

        guard case .exited(let exitedPid, let status) = try template.receive() else { Issue.record("no exited"); return }
        #expect(exitedPid == pid)
        #expect(ExitStatus(waitStatus: status) == .signaled(SIGKILL, coreDumped: false))
    }

    @Test func theTemplateRefusesALoaderThatLeftAThreadAndNamesIt() throws {
        let dir = TempDir("preload"); defer { dir.cleanup() }
        let template = try Self.start("load_with_thread", in: dir); defer { template.stop() }

        guard case .error(nil, let message) = try template.receive() else {
            Issue.record("no error frame; stderr: \(template.stderrText)"); return
        }
        #expect(message.contains("tokenizer-pool"), "\(message)")
        #expect(template.waitForExit() == 3, "the template exits instead of forking")
        #expect(template.stderrText.contains("refusing to start"))
    }

    @Test func theTemplateRefusesANativeThreadPythonDoesNotKnow() throws {
        let dir = TempDir("preload"); defer { dir.cleanup() }
        let template = try Self.start("load_with_native_thread", in: dir); defer { template.stop() }

        guard case .error(nil, let message) = try template.receive() else {
            Issue.record("no error frame; stderr: \(template.stderrText)"); return
        }
        #expect(message.contains("1 OS thread besides the main one"), "\(message)")
        #expect(!message.contains("Python threads"), "\(message)")
        #expect(template.waitForExit() == 3)
    }

    @Test func theTemplateExitsWhenDroverClosesItsEndAndAMalformedFrameIsAnError() throws {
        let dir = TempDir("preload"); defer { dir.cleanup() }
        let quiet = try Self.start("load", in: dir); defer { quiet.stop() }
        guard case .hello = try quiet.receive() else { Issue.record("no hello"); return }
        quiet.closeChannel()
        #expect(quiet.waitForExit() == 0)

        let confused = try Self.start("load", in: dir); defer { confused.stop() }
        guard case .hello = try confused.receive() else { Issue.record("no hello"); return }
        // A template only ever receives fork; a forked frame is a protocol error it names and exits on.
        try confused.send(.forked(slot: 1, pid: 99))
        guard case .error(nil, let message) = try confused.receive() else { Issue.record("no error frame"); return }
        #expect(message.contains("unexpected message kind 3"), "\(message)")
        #expect(confused.waitForExit() == 4)
    }

    /// Version 2's fork names its output descriptors; one that announces
    /// descriptors that never came is a protocol error, not a worker writing
    /// to a wrong descriptor. A fork with a CPU list pins the child.
    @Test func aForkAnnouncingMissingDescriptorsIsAnErrorAndACpuListPinsTheChild() throws {
        let dir = TempDir("preload"); defer { dir.cleanup() }
        let pinned = try Self.start("load", in: dir); defer { pinned.stop() }
        guard case .hello = try pinned.receive() else { Issue.record("no hello"); return }
        let port = TestPorts.block(1)
        let cpu = PreloadSlotTests.allowedCPUs.last ?? 0
        try pinned.send(.fork(slot: 0, port: UInt16(port), cpus: [UInt16(cpu)], environment: []))
        guard case .forked(0, let pid) = try pinned.receive() else { Issue.record("no forked: \(pinned.stderrText)"); return }
        #expect(waitUntil(timeout: 10) { PreloadSlotTests.cpusAllowedList(Int(pid)) == String(cpu) },
                "\(PreloadSlotTests.cpusAllowedList(Int(pid)) ?? "gone")")

        let confused = try Self.start("load", in: dir); defer { confused.stop() }
        guard case .hello = try confused.receive() else { Issue.record("no hello"); return }
        try confused.send(.fork(slot: 3, port: UInt16(port), streams: 2, environment: []))
        guard case .error(nil, let message) = try confused.receive() else { Issue.record("no error frame"); return }
        #expect(message.contains("announces 2 descriptors, 0 arrived"), "\(message)")
        #expect(confused.waitForExit() == 4)
    }
}
