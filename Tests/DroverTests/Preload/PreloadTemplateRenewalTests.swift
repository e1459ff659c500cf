import Foundation
import Glibc
import Testing

/// A template replaced under load, through the real binary behind the
/// proxy: when it dies its orphaned workers keep serving (drover reaps them
/// as subreaper) and are replaced one by one, replacement first, from a new
/// template; `restart --rolling` starts the new template first and forks
/// every replacement from it. No request fails either way.
@Suite struct PreloadTemplateRenewalTests {
    /// The test app, plus a loader that fails once the model on disk is "corrupt" (a file named BROKEN).
    static let app = PreloadTemplateTests.app + """

        def load_unless_broken():
            if os.path.exists("BROKEN"):
                raise RuntimeError("the new model file is corrupt")
            load()
        """

    static func config(port: Int) -> String {
        PreloadSupervisorTests.config(port: port, load: "load_unless_broken") + """

            [proxy:front]
            listen = 127.0.0.1:\(port + 2)
            upstream = model
            """
    }

    /// process_num → (pid, template that forked it) of the serving workers (a replacement may be on a spare port).
    static func workers(_ daemon: ControlledDrover) -> [Int: (pid: Int, template: Int)] {
        var result: [Int: (pid: Int, template: Int)] = [:]
        for process in daemon.status() where process["state"] as? String == "RUNNING" {
            guard let workerPort = process["port"] as? Int,
                  let pid = process["pid"] as? Int, pid > 0,
                  let answer = RawHTTP.json(RawHTTP.get(port: workerPort, "/")), answer["pid"] as? Int == pid,
                  let template = answer["loaded_by"] as? Int,
                  let number = (process["process"] as? String)?.split(separator: "_").last.flatMap({ Int($0) }) else { continue }
            result[number] = (pid, template)
        }
        return result
    }

    static func start(_ label: String) throws -> (ControlledDrover, Int, [Int: (pid: Int, template: Int)]) {
        let port = TestPorts.block(4)
        let daemon = try ControlledDrover(config(port: port), label: label, files: ["preloadapp.py": Self.app])
        var workers: [Int: (pid: Int, template: Int)] = [:]
        #expect(waitUntil(timeout: 30) {
            workers = Self.workers(daemon)
            return workers.count == 2
        }, "\(daemon.status())")
        return (daemon, port, workers)
    }

    @Test func aDeadTemplatesOrphansServeUntilForksOfANewTemplateReplaceThemWithoutAFailedRequest() throws {
        let (daemon, port, before) = try Self.start("preload-orphans")
        let oldTemplate = try #require(before[0]?.template)
        let load = LoadGenerator(port: port + 2, connections: 2, target: "/")
        #expect(waitUntil(timeout: 10) { load.succeeded >= 20 }, "load is flowing")

        #expect(kill(Int32(oldTemplate), SIGKILL) == 0)
        _ = daemon.drover.waitForLine("preload template gone", timeout: 10)
        #expect(daemon.drover.lines(containing: "2 worker(s) of the dead template keep serving").count == 1)

        // Both slots end up with workers forked by one new template; the orphans are gone and reaped.
        var after: [Int: (pid: Int, template: Int)] = [:]
        #expect(waitUntil(timeout: 40) {
            after = Self.workers(daemon)
            return after.count == 2 && after.values.allSatisfy { $0.template != oldTemplate }
                && Set(after.values.map(\.pid)).isDisjoint(with: before.values.map(\.pid))
        }, "\(daemon.status())")
        #expect(Set(after.values.map(\.template)).count == 1, "one new template serves both slots")
        for old in before.values { #expect(waitUntil(timeout: 10) { !processExists(Int32(old.pid)) }, "orphan \(old.pid) reaped") }

        let afterReplacement = load.succeeded
        #expect(waitUntil(timeout: 10) { load.succeeded >= afterReplacement + 20 }, "load keeps flowing")
        let (ok, failures, _) = load.stop()
        #expect(failures.isEmpty, "\(failures.count) of \(ok + failures.count) GETs failed; first: \(failures.first ?? "")")
    }

    @Test func aRollingRestartLoadsANewTemplateFirstAndForksEveryReplacementFromIt() throws {
        let (daemon, port, before) = try Self.start("preload-roll")
        let oldTemplate = try #require(before[0]?.template)
        let load = LoadGenerator(port: port + 2, connections: 2, target: "/")
        #expect(waitUntil(timeout: 10) { load.succeeded >= 20 }, "load is flowing")

        let rolled = try daemon.cli("restart", "--rolling", "model", timeout: 60)
        #expect(rolled.status == 0, "\(rolled.stdout)\(rolled.stderr)")
        let after = Self.workers(daemon)
        #expect(after.count == 2, "\(daemon.status())")
        let newTemplates = Set(after.values.map(\.template))
        #expect(newTemplates.count == 1 && !newTemplates.contains(oldTemplate), "\(after)")
        #expect(Set(after.values.map(\.pid)).isDisjoint(with: before.values.map(\.pid)))
        // The new template said hello before the first replacement was asked for.
        let ready = daemon.drover.lines(containing: "preload template ready")
        #expect(ready.count == 2, "\(ready)")
        // The old template exits once its last worker is gone.
        #expect(waitUntil(timeout: 10) { !processExists(Int32(oldTemplate)) }, "old template \(oldTemplate) exits")

        let afterRoll = load.succeeded
        #expect(waitUntil(timeout: 10) { load.succeeded >= afterRoll + 20 }, "load keeps flowing")
        let (ok, failures, _) = load.stop()
        #expect(failures.isEmpty, "\(failures.count) of \(ok + failures.count) GETs failed; first: \(failures.first ?? "")")
    }

    @Test func aRollingRestartWhoseNewTemplateFailsToLoadReplacesNothing() throws {
        let (daemon, _, before) = try Self.start("preload-roll-broken")
        _ = daemon.dir.write("BROKEN", "")
        let rolled = try daemon.cli("restart", "--rolling", "model", timeout: 60)
        #expect(rolled.status != 0)
        #expect((rolled.stdout + rolled.stderr).contains("the new model file is corrupt"), "\(rolled.stdout)\(rolled.stderr)")
        // The old template's workers are untouched and still serve.
        let after = Self.workers(daemon)
        #expect(after.mapValues(\.pid) == before.mapValues(\.pid), "\(after) \(before)")
        #expect(Set(after.values.map(\.template)) == Set(before.values.map(\.template)))
    }

    @Test func aReloadThatChangesAPreloadProgramLoadsANewTemplateWithTheNewSettings() throws {
        let (daemon, port, before) = try Self.start("preload-reload")
        let oldTemplate = try #require(before[0]?.template)
        let load = LoadGenerator(port: port + 2, connections: 2, target: "/")
        #expect(waitUntil(timeout: 10) { load.succeeded >= 20 }, "load is flowing")

        let config = daemon.dir.file("supervisor.conf")
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "GREETING=\"from-drover\"", with: "GREETING=\"second-model\"")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let reloaded = try daemon.cli("reload", timeout: 60)
        #expect(reloaded.status == 0, "\(reloaded.stdout)\(reloaded.stderr)")

        var after: [Int: (pid: Int, template: Int)] = [:]
        #expect(waitUntil(timeout: 40) {
            after = Self.workers(daemon)
            return after.count == 2 && after.values.allSatisfy { $0.template != oldTemplate }
        }, "\(daemon.status())")
        // The template itself started with the new settings (a loader reads them), not only the forks.
        let template = try #require(after.values.first?.template)
        let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(template)/environ"))) ?? Data()
        #expect(String(decoding: environ, as: UTF8.self).split(separator: "\0").contains("GREETING=second-model"))

        let afterReload = load.succeeded
        #expect(waitUntil(timeout: 10) { load.succeeded >= afterReload + 20 }, "load keeps flowing")
        let (ok, failures, _) = load.stop()
        #expect(failures.isEmpty, "\(failures.count) of \(ok + failures.count) GETs failed; first: \(failures.first ?? "")")
    }
}
