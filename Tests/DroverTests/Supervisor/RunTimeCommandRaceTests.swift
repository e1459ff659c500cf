import Foundation
import Testing

/// Scale, stop, restart, rolling restart and reload on the same program,
/// interleaved: each composes with the others or is refused with a reason,
/// and afterwards the process table is what was last asked for, with no
/// worker running that the table does not know.
@Suite struct RunTimeCommandRaceTests {
    /// The pids whose parent is `pid` (drover's workers are its children).
    static func children(of pid: Int32) -> Set<Int32> {
        var result = Set<Int32>()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            if fields.count > 1, fields[0] != "Z", Int32(fields[1]) == pid { result.insert(child) }
        }
        return result
    }

    static func processes(_ socket: String) -> [[String: Any]] {
        (RawHTTP.json(RawHTTP.get(unix: socket, "/v1/status"))?["processes"] as? [[String: Any]]) ?? []
    }

    /// Waits until the program has exactly `count` workers, all RUNNING,
    /// with distinct names and ports, and drover has no other child.
    static func settles(_ socket: String, drover: DroverHarness, program: String, count: Int, timeout: Double = 20) -> Bool {
        waitUntil(timeout: timeout) {
            let all = processes(socket)
            let pool = all.filter { ($0["name"] as? String)?.hasPrefix("\(program):") == true }
            let pids = Set(all.compactMap { ($0["pid"] as? Int).map(Int32.init) })
            return pool.count == count
                && pool.allSatisfy { $0["state"] as? String == "RUNNING" }
                && Set(pool.compactMap { $0["name"] as? String }).count == count
                && Set(pool.compactMap { $0["port"] as? Int }).count == count
                && children(of: drover.pid) == pids
        }
    }

    @Test func sigttouTwiceRemovesTwoWhileTheFirstIsStillStopping() throws {
        let dir = TempDir("ttou")
        defer { dir.cleanup() }
        let socket = dir.file("drover.sock")
        // Workers that ignore SIGTERM: a removal stays pending for stopwaitsecs.
        let drover = try DroverHarness(config: """
            [unix_http_server]
            file = \(socket)

            [program:web]
            command = /bin/sh -c 'trap "" TERM; while :; do sleep 0.1; done'
            process_name = web_%(process_num)d
            numprocs = 4
            port = 23100
            startsecs = 0
            stopwaitsecs = 3

            [proxy:front]
            listen = 127.0.0.1:23190
            upstream = web
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("web:web_3 RUNNING")
        drover.signal(SIGTTOU)
        drover.waitForLine("web:web_3 STOPPING")
        // Before: the second SIGTTOU counted web_3 (still stopping) as live and removed nothing.
        drover.signal(SIGTTOU)
        drover.waitForLine("web:web_2 STOPPING")
        // Before: SIGTTIN then counted both pending removals and added two.
        drover.signal(SIGTTIN)
        drover.waitForLine("added (scale web to 3)")
        #expect(drover.lines(containing: "added (scale web to").count == 1, "one worker added:\n\(drover.transcript)")
        #expect(Self.settles(socket, drover: drover, program: "web", count: 3), "3 workers once the removals finish:\n\(drover.transcript)")
    }

    @Test func operatorActionsOnAWorkerBeingReplacedAreRefusedWithAReason() throws {
        let daemon = try ControlledDrover("""
            [program:model]
            command = \(Binaries.demoWorker) --port %(port)s --startup-delay 2.5
            process_name = model_%(process_num)d
            numprocs = 2
            port = 23110
            startsecs = 0

            [proxy:front]
            listen = 127.0.0.1:23191
            upstream = model
            """, label: "busy")
        let drover = daemon.drover
        drover.waitForLine("model:model_0 ready")
        drover.waitForLine("model:model_1 ready")
        let socket = daemon.socket
        let rolled = LockedData()
        let roll = Thread {
            // The roll answers when both replacements are ready (2 × 2.5 s and
            // more on a busy machine): longer than RawHTTP's 5 s read timeout.
            let result = try? runCommand(Binaries.drover, ["restart", "--rolling", "model", "-s", socket], timeout: 60)
            rolled.set(Data((result.map { $0.status == 0 ? "200 \($0.stdout)" : "\($0.status) \($0.stderr)" } ?? "none").utf8))
        }
        roll.start()
        drover.waitForLine("model:model_0 rolling replacement: starting a replacement")
        // While model_0's replacement starts (2.5 s): a second roll, and the operator's stop.
        let again = RawHTTP.post(unix: socket, "/v1/processes/model/restart?rolling=1")
        #expect(again?.status != 200 && again?.body.contains("already under way") == true, "\(again?.body ?? "")\n\(drover.transcript)")
        let refused = RawHTTP.post(unix: socket, "/v1/processes/model:model_0/stop")
        #expect(refused?.body.contains("\"ok\":false") == true && refused?.body.contains("is being replaced") == true, "\(refused?.body ?? "")")
        let stop = try daemon.cli("stop", "model:model_0")
        #expect(stop.status != 0)
        #expect((stop.stdout + stop.stderr).contains("is being replaced"), "\(stop.stdout)\(stop.stderr)")
        #expect(waitUntil(timeout: 20) { !rolled.get().isEmpty })
        #expect(String(decoding: rolled.get(), as: UTF8.self).hasPrefix("200"), "\(String(decoding: rolled.get(), as: UTF8.self))")
        #expect(Self.settles(socket, drover: drover, program: "model", count: 2))
    }

    @Test func scaleDuringARollingRestartComposesAndTheTableMatches() throws {
        let daemon = try ControlledDrover("""
            [program:model]
            command = \(Binaries.demoWorker) --port %(port)s --startup-delay 0.8
            process_name = model_%(process_num)d
            numprocs = 3
            port = 23120
            startsecs = 0

            [proxy:front]
            listen = 127.0.0.1:23192
            upstream = model
            """, label: "rollscale")
        let drover = daemon.drover
        for index in 0..<3 { drover.waitForLine("model:model_\(index) ready") }
        let socket = daemon.socket
        let rolled = LockedData()
        let roll = Thread {
            // The roll answers when both replacements are ready (2 × 2.5 s and
            // more on a busy machine): longer than RawHTTP's 5 s read timeout.
            let result = try? runCommand(Binaries.drover, ["restart", "--rolling", "model", "-s", socket], timeout: 60)
            rolled.set(Data((result.map { $0.status == 0 ? "200 \($0.stdout)" : "\($0.status) \($0.stderr)" } ?? "none").utf8))
        }
        roll.start()
        drover.waitForLine("model:model_0 rolling replacement: starting a replacement")
        // Slot 0 is being replaced: scaling to 1 removes slots 1 and 2 (the roll skips them) ...
        #expect(RawHTTP.post(unix: socket, "/v1/programs/model/scale", body: "{\"count\": 1}")?.status == 200)
        // ... and to 0 removes slot 0 with its replacement: the roll is abandoned, not failed.
        #expect(RawHTTP.post(unix: socket, "/v1/programs/model/scale", body: "{\"count\": 0}")?.status == 200)
        drover.waitForLine("replacement abandoned")
        #expect(waitUntil(timeout: 20) { !rolled.get().isEmpty })
        #expect(String(decoding: rolled.get(), as: UTF8.self).hasPrefix("200"), "\(String(decoding: rolled.get(), as: UTF8.self))")
        #expect(Self.settles(socket, drover: drover, program: "model", count: 0), "nothing left running:\n\(drover.transcript)")
        #expect(RawHTTP.post(unix: socket, "/v1/programs/model/scale", body: "{\"count\": 2}")?.status == 200)
        #expect(Self.settles(socket, drover: drover, program: "model", count: 2), "\(drover.transcript)")
        #expect(drover.lines(containing: "did not become ready").isEmpty)
    }

    @Test func interleavedScaleStopRestartRollAndReloadEndInAConsistentTable() throws {
        let dir = TempDir("interleave")
        defer { dir.cleanup() }
        let socket = dir.file("drover.sock")
        func config(numprocs: Int, flavour: String) -> String {
            """
            [unix_http_server]
            file = \(socket)

            [program:model]
            command = \(Binaries.demoWorker) --port %(port)s --startup-delay 0.3
            process_name = model_%(process_num)d
            numprocs = \(numprocs)
            port = 23130
            startsecs = 0
            stopwaitsecs = 2
            environment = FLAVOUR="\(flavour)"

            [proxy:front]
            listen = 127.0.0.1:23193
            upstream = model
            """
        }
        let path = dir.write("supervisor.conf", config(numprocs: 4, flavour: "a"))
        let drover = try DroverHarness(arguments: ["run", "-c", path], directory: dir.path)
        defer { drover.terminate() }
        for index in 0..<4 { drover.waitForLine("model:model_\(index) ready") }

        // Everything at once, from several clients and signals.
        let group = DispatchGroup()
        func async(_ body: @escaping @Sendable () -> Void) {
            group.enter()
            Thread { body(); group.leave() }.start()
        }
        async { _ = RawHTTP.post(unix: socket, "/v1/processes/model/restart?rolling=1") }
        usleep(200_000)
        async { _ = RawHTTP.post(unix: socket, "/v1/programs/model/scale", body: "{\"count\": 6}") }
        drover.signal(SIGTTOU)
        async { _ = RawHTTP.post(unix: socket, "/v1/processes/model:model_1/stop") }
        usleep(100_000)
        dir.write("supervisor.conf", config(numprocs: 5, flavour: "b"))
        drover.signal(SIGHUP)
        async { _ = RawHTTP.post(unix: socket, "/v1/processes/model:*/restart") }
        usleep(100_000)
        drover.signal(SIGTTIN)
        async { _ = RawHTTP.post(unix: socket, "/v1/programs/model/scale", body: "{\"count\": 2}") }
        usleep(100_000)
        async { _ = RawHTTP.post(unix: socket, "/v1/processes/model/restart?rolling=1") }
        drover.signal(SIGTTOU)
        #expect(group.wait(timeout: .now() + 60) == .success, "every request answered")

        // Whatever ran in whatever order, the last word decides: reload to 3.
        dir.write("supervisor.conf", config(numprocs: 3, flavour: "c"))
        #expect(waitUntil(timeout: 30) {
            // A reload while a roll is still going queues behind it; ask until it says 3 with nothing left to change.
            let reply = RawHTTP.post(unix: socket, "/v1/reload")
            guard reply?.status == 200 else { return false }
            usleep(300_000)
            let pool = Self.processes(socket).filter { ($0["name"] as? String)?.hasPrefix("model:") == true }
            return pool.count == 3 && reply?.body.contains("\"summary\":\"no changes\"") == true
        }, "\(drover.transcript)")
        #expect(Self.settles(socket, drover: drover, program: "model", count: 3, timeout: 30), "\(drover.transcript)")
        // Every worker runs the newest environment and answers on its port.
        for process in Self.processes(socket) {
            guard let pid = process["pid"] as? Int, let port = process["port"] as? Int else { continue }
            let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
            #expect(String(decoding: environ, as: UTF8.self).contains("FLAVOUR=c"), "\(process["name"] ?? "")")
            #expect(RawHTTP.get(port: port, "/health")?.status == 200)
        }
        #expect(drover.process.isRunning)
        drover.signal(SIGTERM)
        #expect(drover.waitForExit(timeout: 20) == 0)
    }
}
