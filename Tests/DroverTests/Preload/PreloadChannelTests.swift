import Foundation
import Glibc
import Testing
@testable import Supervision
@testable import System

/// drover's end of the preload socketpair on a real reactor, with a real
/// python3 template spawned the way the supervisor spawns (posix_spawn, the
/// template's end as stdin, DROVER_PRELOAD_FD=0).
@Suite struct PreloadChannelTests {
    final class Harness {
        let reactor: Reactor
        var channel: PreloadChannel!
        let templateSpawnPid: pid_t
        let dir = TempDir("preload-channel")

        init(load: String) throws {
            reactor = try Reactor()
            dir.write("preloadapp.py", PreloadTemplateTests.app)
            let box = EventBox()
            channel = try PreloadChannel(reactor: reactor) { box.events.append($0) }
            self.box = box
            let python = Binaries.packageRoot.appendingPathComponent("python").path
            var environment = ["PATH=\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")",
                               "PYTHONPATH=\(python):\(dir.path)", PreloadChannel.templateEnvironment]
            if let home = ProcessInfo.processInfo.environment["HOME"] { environment.append("HOME=\(home)") }
            var request = SpawnRequest(argv: ["python3", "-m", "drover_preload", "preloadapp:\(load)", "preloadapp:serve"],
                                       environment: environment)
            request.stdin = channel.templateEnd
            templateSpawnPid = try Spawner.spawn(request)
            channel.templateStarted()
        }
        private var box: EventBox

        /// Steps the reactor until an event matching `match` arrives (or `timeout` seconds pass).
        func next(timeout: Double = 10, _ match: (PreloadChannel.Event) -> Bool = { _ in true }) -> PreloadChannel.Event? {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let index = box.events.firstIndex(where: match) { return box.events.remove(at: index) }
                if reactor.runReady() == 0 { usleep(5_000) }
            }
            return nil
        }

        func stop(workers: [Int32]) {
            for pid in workers { kill(pid, SIGKILL) }
            channel.close()
            kill(templateSpawnPid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(templateSpawnPid, &status, 0)
            dir.cleanup()
        }
    }

    final class EventBox { var events: [PreloadChannel.Event] = [] }

    @Test func forkedWorkersServeAndTheirExitsArriveAsEvents() throws {
        let harness = try Harness(load: "load")
        var workers: [Int32] = []
        defer { harness.stop(workers: workers) }
        guard case .ready(_, let runtime) = harness.next() else { Issue.record("no ready"); return }
        #expect(runtime.contains("preloadapp:load"))

        let port = TestPorts.block(2)
        try harness.channel.requestFork(slot: 0, port: UInt16(port), environment: [PreloadEnvironmentEntry("GREETING", "hej")])
        try harness.channel.requestFork(slot: 1, port: UInt16(port + 1), environment: [])
        for slot: UInt32 in [0, 1] {
            guard case .forked(slot, let pid) = harness.next() else { Issue.record("no forked for \(slot)"); return }
            workers.append(pid)
        }
        let greeting = waitForJSON(port: port)?["greeting"] as? String
        #expect(greeting == "hej")
        #expect(waitForJSON(port: port + 1)?["pid"] as? Int == Int(workers[1]))

        #expect(kill(workers[0], SIGKILL) == 0)
        #expect(harness.next() == .exited(pid: workers[0], status: .signaled(SIGKILL, coreDumped: false)))
        #expect(kill(workers[1], SIGTERM) == 0)
        #expect(harness.next() == .exited(pid: workers[1], status: .signaled(SIGTERM, coreDumped: false)))
    }

    @Test func aTemplateThatDiesClosesTheChannelAndItsWorkersLiveOn() throws {
        let harness = try Harness(load: "load")
        var workers: [Int32] = []
        defer { harness.stop(workers: workers) }
        guard case .ready(let templatePid, _) = harness.next() else { Issue.record("no ready"); return }
        let port = TestPorts.block(1)
        try harness.channel.requestFork(slot: 7, port: UInt16(port), environment: [])
        guard case .forked(7, let pid) = harness.next() else { Issue.record("no forked"); return }
        workers.append(pid)
        #expect(waitForJSON(port: port) != nil)

        #expect(kill(templatePid, SIGKILL) == 0)
        #expect(harness.next() == .closed(reason: nil))
        #expect(!harness.channel.isOpen)
        // The worker is drover's to drain and replace: it still serves.
        #expect(kill(pid, 0) == 0)
        #expect(waitForJSON(port: port)?["pid"] as? Int == Int(pid))
    }

    @Test func aRefusingTemplateReportsWhyThenCloses() throws {
        let harness = try Harness(load: "load_with_thread")
        defer { harness.stop(workers: []) }
        guard case .failed(nil, let message) = harness.next() else { Issue.record("no failed event"); return }
        #expect(message.contains("tokenizer-pool"), "\(message)")
        #expect(harness.next() == .closed(reason: nil))
        var status: Int32 = 0
        #expect(waitpid(harness.templateSpawnPid, &status, 0) == harness.templateSpawnPid)
        #expect(ExitStatus(waitStatus: status) == .exited(3))
    }

    private func waitForJSON(port: Int) -> [String: Any]? {
        var answer: [String: Any]?
        _ = waitUntil(timeout: 10) {
            answer = RawHTTP.json(RawHTTP.get(port: port, "/"))
            return answer != nil
        }
        return answer
    }
}
