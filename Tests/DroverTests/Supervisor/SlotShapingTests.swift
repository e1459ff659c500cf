import Foundation
import Testing

/// Slots through the real binary: what the kernel says about the real
/// workers (/proc/PID/status Cpus_allowed_list, /proc/PID/environ), at the
/// first start and after a restart.
@Suite struct SlotShapingTests {
    static func cpusAllowed(_ pid: Int32) -> String? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            return line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    static func environment(_ pid: Int32) -> [String: String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [:] }
        var result: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            if let eq = text.firstIndex(of: "=") { result[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
        }
        return result
    }

    /// This test process's own CPUs, as the kernel lists them.
    static func ownCPUs() -> [Int] {
        let text = cpusAllowed(getpid()) ?? "0"
        var cpus: [Int] = []
        for part in text.split(separator: ",") {
            let b = part.split(separator: "-").compactMap { Int($0) }
            cpus += b.count == 2 ? Array(b[0]...b[1]) : b
        }
        return cpus
    }

    /// Whether cpu_affinity = auto pins on this host: not where a CPU quota
    /// is narrower than the CPUs drover may run on (SlotPlan.autoPinningDeclined).
    static let autoPins: Bool = ((try? ConfigLessSlotTests.usableCPUs()) ?? ownCPUs().count) >= ownCPUs().count

    /// The cores cpu_affinity = auto gives slot i here ([] when it declines).
    static func autoCores(_ slot: Int) -> [Int] {
        let cpus = ownCPUs()
        return autoPins ? [cpus[slot % cpus.count]] : []
    }

    /// The Cpus_allowed_list of slot i's worker under cpu_affinity = auto.
    static func autoCpusAllowed(_ slot: Int) -> String? {
        autoPins ? autoCores(slot).map(String.init).joined(separator: ",") : cpusAllowed(getpid())
    }

    @Test func workersArePinnedToTheirSlotAndSeeItsThreadVariables() throws {
        let dir = TempDir("slots")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:m]
            command = /bin/sh -c 'echo "started pid=$$ slot=$DROVER_SLOT"; exec sleep 60'
            process_name = m_%(process_num)d
            numprocs = 2
            cpu_affinity = auto
            gpus = 3,7
            environment = NUMEXPR_NUM_THREADS="5"
            """, in: dir)
        defer { drover.terminate() }
        var pids: [Int32] = []
        for slot in 0..<2 {
            let line = drover.waitForLine("m_\(slot) | started pid=", "slot=\(slot)")
            let pid = try #require(line.flatMap { Int32($0.split(separator: "=")[1].split(separator: " ")[0]) })
            pids.append(pid)
            #expect(Self.cpusAllowed(pid) == Self.autoCpusAllowed(slot), "slot \(slot)")
            let env = Self.environment(pid)
            #expect(env["DROVER_SLOT"] == String(slot))
            #expect(env["DROVER_CPUS"] == "1")
            #expect(env["OMP_NUM_THREADS"] == "1" && env["OPENBLAS_NUM_THREADS"] == "1" && env["MKL_NUM_THREADS"] == "1")
            #expect(env["TF_NUM_INTEROP_THREADS"] == "1")
            #expect(env["NUMEXPR_NUM_THREADS"] == "5")  // the config's value stays
            #expect(env["CUDA_VISIBLE_DEVICES"] == ["3", "7"][slot] && env["DROVER_GPU"] == ["3", "7"][slot])
        }
        // drover itself is not left pinned by a spawn.
        #expect(Self.cpusAllowed(drover.pid) == Self.cpusAllowed(getpid()))
        // A restarted worker comes back on its own slot's cores.
        kill(pids[1], SIGKILL)
        let again = drover.waitForLine("m_1 | started pid=", "slot=1", occurrence: 2)
        let newPid = try #require(again.flatMap { Int32($0.split(separator: "=")[1].split(separator: " ")[0]) })
        #expect(newPid != pids[1])
        #expect(Self.cpusAllowed(newPid) == Self.autoCpusAllowed(1))
        drover.signal(SIGTERM)
        #expect(drover.waitForExit() == 0)
    }

    @Test func withoutAffinityWorkersKeepDroversCPUs() throws {
        let dir = TempDir("noslots")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:m]
            command = /bin/sh -c 'echo "started pid=$$"; exec sleep 60'
            thread_env = none
            """, in: dir)
        defer { drover.terminate() }
        let line = drover.waitForLine("m | started pid=")
        let pid = try #require(line.flatMap { Int32($0.split(separator: "=")[1]) })
        #expect(Self.cpusAllowed(pid) == Self.cpusAllowed(getpid()))
        #expect(Self.environment(pid)["OMP_NUM_THREADS"] == nil)
        #expect(Self.environment(pid)["DROVER_SLOT"] == "0")
    }

    /// A reload that changes a pool's shaping (cpu_affinity, thread_env)
    /// replaces its workers: the new one runs on its slot's core with the
    /// new variables, as a changed `environment` would.
    @Test func reloadWithNewShapingReplacesTheWorker() throws {
        let program = """
            [program:m]
            command = /bin/sh -c 'echo "started pid=$$"; exec sleep 60'
            """
        let daemon = try ControlledDrover(program + "\nthread_env = none\n", label: "slotreload")
        let first = try #require(daemon.drover.waitForLine("m | started pid=").flatMap { Int32($0.split(separator: "=")[1]) })
        #expect(Self.cpusAllowed(first) == Self.cpusAllowed(getpid()))
        #expect(Self.environment(first)["OMP_NUM_THREADS"] == nil)
        _ = daemon.dir.write("supervisor.conf", "[unix_http_server]\nfile = %(here)s/drover.sock\n\n" + program + "\ncpu_affinity = auto\n")
        let reload = try daemon.cli("reload")
        #expect(reload.status == 0, "\(reload.stdout)\(reload.stderr)")
        let second = try #require(daemon.drover.waitForLine("m | started pid=", occurrence: 2).flatMap { Int32($0.split(separator: "=")[1]) })
        #expect(second != first)
        #expect(Self.cpusAllowed(second) == Self.autoCpusAllowed(0))
        #expect(Self.environment(second)["OMP_NUM_THREADS"] == "1")
    }

    /// The daemon's own views of each worker's slot: `status --json`, and
    /// through the admin listener `/metrics` and the status page.
    @Test func statusJSONMetricsAndPageNameEachWorkersSlot() throws {
        let admin = TestPorts.block(1)
        let daemon = try ControlledDrover("""
            [supervisord]
            admin_listen = 127.0.0.1:\(admin)

            [program:m]
            command = /bin/sleep 60
            process_name = m_%(process_num)d
            numprocs = 2
            cpu_affinity = auto
            gpus = 5
            """, label: "slotstatus")
        daemon.drover.waitForLine("m:m_1 RUNNING")
        let json = try daemon.cli("status", "--json")
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let processes = parsed?["processes"] as? [[String: Any]] ?? []
        for index in 0..<2 {
            let slot = processes.first { $0["name"] as? String == "m:m_\(index)" }?["slot"] as? [String: Any]
            #expect(slot?["index"] as? Int == index)
            #expect(slot?["cpus"] as? Int == 1)
            #expect(slot?["cores"] as? [Int] == Self.autoCores(index))
            #expect(slot?["gpu"] as? String == "5")
        }
        let metrics = RawHTTP.get(port: admin, "/metrics")?.body ?? ""
        let page = RawHTTP.get(port: admin, "/")?.body ?? ""
        for index in 0..<2 {
            let cores = Self.autoCores(index).map(String.init).joined(separator: ",")
            let sample = #"drover_process_slot{process="m:m_\#(index)",group="m",program="m",cores="\#(cores)",node=""#
            #expect(metrics.contains(sample) && metrics.contains(#"gpu="5"} \#(index)"#), "\(metrics)")
            #expect(metrics.contains(#"drover_process_slot_cpus{process="m:m_\#(index)",group="m",program="m"} 1"#))
            #expect(page.contains("<td class=\"slot\">\(index)" + (cores.isEmpty ? " · gpu 5" : " · cores \(cores)")), "\(page)")
        }
    }
}
