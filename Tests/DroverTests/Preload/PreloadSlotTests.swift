import Foundation
import Glibc
import Testing

/// A forked worker is its slot's worker, not a copy of the template: the
/// slot's CPU affinity and environment (DROVER_SLOT, DROVER_CPUS,
/// DROVER_GPU, thread variables, CUDA_VISIBLE_DEVICES), and its own output
/// pipes so its last words reach `status`. Through the real binary.
@Suite struct PreloadSlotTests {
    /// Answers what the worker sees: its environment's slot variables and the CPUs it may run on.
    static let app = """
        import http.server, json, os, sys, time
        MODEL = None

        def load():
            global MODEL
            MODEL = list(range(1000))
            print("template loaded the model", flush=True)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                keys = ["DROVER_SLOT", "DROVER_CPUS", "DROVER_GPU", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS",
                        "MKL_NUM_THREADS", "PORT", "DROVER_PROCESS_NAME", "DROVER_PRELOAD_FD"]
                body = json.dumps({"pid": os.getpid(), "env": {k: os.environ.get(k) for k in keys},
                                   "cpus": sorted(os.sched_getaffinity(0))}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        def serve(port):
            print("worker %d serving on %d" % (os.getpid(), port), flush=True)
            http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()

        def serve_then_die(port):
            time.sleep(0.3)
            print("shard 7 of the model is missing on slot " + os.environ["DROVER_SLOT"], file=sys.stderr, flush=True)
            sys.exit(1)
        """

    static func config(port: Int, cpus: [Int], serve: String = "serve", extra: String = "") -> String {
        let python = Binaries.packageRoot.appendingPathComponent("python").path
        return """
            [program:model]
            command = python3 -m drover_preload slotapp:load slotapp:\(serve)
            numprocs = 2
            numprocs_start = 5
            process_name = %(program_name)s_%(process_num)d
            port = \(port)
            environment = PYTHONPATH="\(python):%(here)s"
            preload = true
            startsecs = 0
            backoff_max = 200ms
            cpu_affinity = \(cpus.map(String.init).joined(separator: ","))
            gpus = 3,5
            \(extra)
            """
    }

    /// The CPUs this test may use; slots are carved from the first two (or the one there is).
    static var allowedCPUs: [Int] {
        let list = cpusAllowedList(Int(getpid())) ?? "0"
        let cpus = list.split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            guard let low = bounds.first else { return [] }
            return Array(low...(bounds.last ?? low))
        }
        return cpus.isEmpty ? [0] : cpus
    }

    static func cpusAllowedList(_ pid: Int) -> String? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }?
            .split(separator: ":").last?.trimmingCharacters(in: .whitespaces)
    }

    @Test func forkedWorkersGetTheirSlotsAffinityAndEnvironmentNotTheTemplates() throws {
        let allowed = Self.allowedCPUs
        let cpus = Array(allowed.prefix(2)).count == 2 ? Array(allowed.prefix(2)) : [allowed[0], allowed[0]]
        let port = TestPorts.block(2)
        let daemon = try ControlledDrover(Self.config(port: port, cpus: cpus), label: "preload-slots",
                                          files: ["slotapp.py": Self.app])
        #expect(waitUntil(timeout: 20) { PreloadSupervisorTests.running(daemon).count == 2 }, "\(daemon.status())")
        let pids = PreloadSupervisorTests.running(daemon)
        for (slot, number) in [(0, 5), (1, 6)] {
            guard let answer = PreloadSupervisorTests.answer(port + slot), let env = answer["env"] as? [String: Any?] else {
                Issue.record("slot \(slot) does not answer: \(daemon.status())"); continue
            }
            let pid = try #require(pids["model_\(number)"])
            #expect(answer["pid"] as? Int == pid)
            // What a spawned worker of this slot gets (Config/ProgramSection: slot variables beat the template's).
            #expect(env["DROVER_SLOT"] as? String == String(slot), "\(env)")
            #expect(env["DROVER_CPUS"] as? String == "1")
            #expect(env["OMP_NUM_THREADS"] as? String == "1" && env["MKL_NUM_THREADS"] as? String == "1")
            #expect(env["DROVER_GPU"] as? String == ["3", "5"][slot])
            #expect(env["CUDA_VISIBLE_DEVICES"] as? String == ["3", "5"][slot])
            #expect(env["PORT"] as? String == String(port + slot))
            #expect(env["DROVER_PROCESS_NAME"] as? String == "model_\(number)")
            #expect(env["DROVER_PRELOAD_FD"] as? String == nil, "the channel is the template's, not the worker's")
            // Pinned to the slot's core, seen by the kernel and by the worker itself.
            #expect(answer["cpus"] as? [Int] == [cpus[slot]], "\(answer)")
            #expect(Self.cpusAllowedList(pid) == String(cpus[slot]))
        }
        // The template itself is not pinned: it only forks.
        let template = try #require(daemon.drover.lines(containing: "preload template ready").first.flatMap(pidIn))
        #expect(Self.cpusAllowedList(Int(template)) != String(cpus[0]) || allowed.count == 1)
    }

    @Test func aForkedWorkersOwnOutputIsItsLastWordsAndTheTemplatesGoesToTheProgramsLog() throws {
        let port = TestPorts.block(2)
        let daemon = try ControlledDrover(Self.config(port: port, cpus: [Self.allowedCPUs[0]], serve: "serve_then_die",
                                                      extra: "startretries = 1\nredirect_stderr = false"),
                                          label: "preload-words", files: ["slotapp.py": Self.app])
        var worker: [String: Any]?
        #expect(waitUntil(timeout: 30) {
            worker = daemon.status().first { $0["process"] as? String == "model_6" }
            return (worker?["last_output"] as? [String])?.isEmpty == false
        }, "\(daemon.status())")
        let words = worker?["last_output"] as? [String] ?? []
        // Its own stderr, not its neighbour's and not the template's.
        #expect(words.last == "shard 7 of the model is missing on slot 1", "\(words)")
        #expect(!words.contains { $0.contains("slot 0") || $0.contains("template loaded") }, "\(words)")
        #expect(daemon.drover.lines(containing: "model_6", "shard 7 of the model is missing on slot 1").count >= 1)
        // The template's own output is the program's, marked as the template's.
        #expect(daemon.drover.lines(containing: "model:template", "template loaded the model").count >= 1)
    }
}
