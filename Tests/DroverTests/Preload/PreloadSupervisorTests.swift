import Foundation
import Glibc
import Testing

/// `preload = true` through the real binary: drover starts the program's
/// template, forks its workers from it, restarts a killed worker by forking
/// again (no second load). A dead template's workers:
/// PreloadTemplateRenewalTests.
@Suite struct PreloadSupervisorTests {
    static func config(port: Int, load: String = "load") -> String {
        let python = Binaries.packageRoot.appendingPathComponent("python").path
        return """
            [program:model]
            command = python3 -m drover_preload preloadapp:\(load) preloadapp:serve
            numprocs = 2
            process_name = %(program_name)s_%(process_num)d
            port = \(port)
            environment = PYTHONPATH="\(python):%(here)s",GREETING="from-drover"
            preload = true
            startsecs = 0
            backoff_max = 200ms
            """
    }

    /// name → pid of the workers RUNNING with a pid.
    static func running(_ daemon: ControlledDrover) -> [String: Int] {
        var result: [String: Int] = [:]
        for process in daemon.status() where process["state"] as? String == "RUNNING" {
            if let name = process["process"] as? String, let pid = process["pid"] as? Int, pid > 0 { result[name] = pid }
        }
        return result
    }

    static func answer(_ port: Int) -> [String: Any]? {
        var answer: [String: Any]?
        _ = waitUntil(timeout: 10) {
            answer = RawHTTP.json(RawHTTP.get(port: port, "/"))
            return answer != nil
        }
        return answer
    }

    @Test func workersAreForkedFromOneTemplateAndAKilledOneIsForkedAgain() throws {
        let port = TestPorts.block(2)
        let daemon = try ControlledDrover(Self.config(port: port), label: "preload-sup",
                                          files: ["preloadapp.py": PreloadTemplateTests.app])
        #expect(waitUntil(timeout: 20) { Self.running(daemon).count == 2 }, "\(daemon.status())")
        let pids = Self.running(daemon)
        guard let first = Self.answer(port), let second = Self.answer(port + 1) else {
            Issue.record("workers do not answer: \(daemon.status())"); return
        }
        #expect(first["pid"] as? Int == pids["model_0"] && second["pid"] as? Int == pids["model_1"], "\(pids)")
        let template = first["loaded_by"] as? Int
        #expect(template != nil && second["loaded_by"] as? Int == template, "one load for both workers")
        #expect(template != first["pid"] as? Int)
        #expect(first["greeting"] as? String == "from-drover" && first["slot"] as? String == "0")

        // A killed worker: its exit comes through the template, its replacement is a fork.
        let killed = try #require(pids["model_0"])
        #expect(kill(Int32(killed), SIGKILL) == 0)
        #expect(waitUntil(timeout: 20) { (Self.running(daemon)["model_0"] ?? killed) != killed }, "\(daemon.status())")
        let again = Self.answer(port)
        #expect(again?["pid"] as? Int == Self.running(daemon)["model_0"])
        #expect(again?["loaded_by"] as? Int == template, "forked from the same template, not loaded again")
        #expect(daemon.drover.lines(containing: "preload template started").count == 1)
    }

    @Test func aWorkerStoppedWhileTheTemplateLoadsIsNotStartedByTheLateFork() throws {
        let port = TestPorts.block(2)
        let daemon = try ControlledDrover(Self.config(port: port, load: "load_slowly"), label: "preload-stop",
                                          files: ["preloadapp.py": PreloadTemplateTests.app])
        // The template sleeps 1.5 s before its hello: both launches wait on it, STARTING without a pid.
        #expect(waitUntil(timeout: 10) {
            let status = daemon.status()
            return status.count == 2 && status.allSatisfy { $0["state"] as? String == "STARTING" && ($0["pid"] as? Int ?? 0) == 0 }
        }, "\(daemon.status())")
        let stopped = try daemon.cli("stop", "model:model_0")
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(waitUntil(timeout: 20) { Self.running(daemon)["model_1"] != nil }, "\(daemon.status())")
        #expect(Self.answer(port + 1) != nil)
        // model_1's fork was answered; model_0's was never asked for, and nothing serves its port.
        #expect(daemon.status().first { $0["process"] as? String == "model_0" }?["state"] as? String == "STOPPED")
        #expect(RawHTTP.get(port: port, "/") == nil)

        // Started again, it forks from the template that is now ready, behind the proxy like any worker.
        let started = try daemon.cli("start", "model:model_0")
        #expect(started.status == 0, "\(started.stdout) \(started.stderr)")
        #expect(waitUntil(timeout: 20) { Self.running(daemon)["model_0"] != nil }, "\(daemon.status())")
        #expect(Self.answer(port)?["loaded_by"] as? Int == Self.answer(port + 1)?["loaded_by"] as? Int)
    }

    @Test func preloadedWorkersServeBehindTheProxy() throws {
        let port = TestPorts.block(3)
        let daemon = try ControlledDrover(Self.config(port: port) + """

            [proxy:front]
            listen = 127.0.0.1:\(port + 2)
            upstream = model
            """, label: "preload-proxy", files: ["preloadapp.py": PreloadTemplateTests.app])
        #expect(waitUntil(timeout: 20) { Self.running(daemon).count == 2 }, "\(daemon.status())")
        var servedBy: Set<Int> = []
        #expect(waitUntil(timeout: 10) {
            if let pid = RawHTTP.json(RawHTTP.get(port: port + 2, "/"))?["pid"] as? Int { servedBy.insert(pid) }
            return servedBy.count == 2
        }, "both forked workers take requests through the proxy: \(servedBy)")
        #expect(servedBy == Set(Self.running(daemon).values))
    }

    @Test func aTemplateThatRefusesToStartMakesItsWorkersFatalWithTheReason() throws {
        let port = TestPorts.block(2)
        let daemon = try ControlledDrover(Self.config(port: port, load: "load_with_thread")
                                          + "\nstartretries = 1\n", label: "preload-refuse",
                                          files: ["preloadapp.py": PreloadTemplateTests.app])
        #expect(waitUntil(timeout: 30) {
            daemon.status().allSatisfy { $0["state"] as? String == "FATAL" } && !daemon.status().isEmpty
        }, "\(daemon.status())")
        #expect(daemon.drover.lines(containing: "tokenizer-pool").count >= 1)
    }
}
