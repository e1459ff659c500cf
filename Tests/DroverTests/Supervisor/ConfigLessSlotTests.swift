import Foundation
import Testing

/// Config-less `drover run [--workers N|auto] -- CMD` gives its workers the
/// slots a config's `numprocs = auto` would (one CPU each, thread variables,
/// DROVER_SLOT), `--thread-env` and `--cpu-affinity` change them as the keys
/// do, and drover's own environment counts as set. Read from the real
/// workers' /proc/PID/environ and /proc/PID/status.
@Suite struct ConfigLessSlotTests {
    static let announce = #"echo "started pid=$$ slot=$DROVER_SLOT"; exec sleep 60"#

    static func startedPid(_ line: String?) -> Int32? {
        line.flatMap { Int32($0.split(separator: "pid=")[1].split(separator: " ")[0]) }
    }

    /// drover's own environment: this test's PATH and HOME, plus `extra`.
    static func environment(_ extra: [String: String]) -> [String: String] {
        let own = ProcessInfo.processInfo.environment
        var env = ["PATH": own["PATH"] ?? "/usr/bin:/bin", "HOME": own["HOME"] ?? "/"]
        for (key, value) in extra { env[key] = value }
        return env
    }

    /// The usable CPUs drover reports for this machine (affinity, cgroup quota, cpuset).
    static func usableCPUs() throws -> Int {
        let dry = try runCommand(Binaries.drover, ["run", "--dry-run", "--", "/bin/true"], directory: NSTemporaryDirectory())
        let line = try #require(dry.stdout.split(separator: "\n").first { $0.hasPrefix("machine: ") }, "\(dry.stdout)\(dry.stderr)")
        return try #require(Int(line.dropFirst("machine: ".count).split(separator: " ")[0]))
    }

    @Test func poolWorkersArePinnedAndGetThreadVariablesButNotOverDroversOwn() throws {
        let dir = TempDir("cl-slots")
        defer { dir.cleanup() }
        let drover = try DroverHarness(arguments: [
            "run", "--workers", "2", "--cpu-affinity", "auto", "--", "/bin/sh", "-c", Self.announce,
        ], directory: dir.path, environment: Self.environment(["MKL_NUM_THREADS": "3"]))
        defer { drover.terminate() }
        for slot in 0..<2 {
            let pid = try #require(Self.startedPid(drover.waitForLine("app_0\(slot) | started pid=", "slot=\(slot)")))
            let env = SlotShapingTests.environment(pid)
            #expect(env["DROVER_SLOT"] == String(slot))
            #expect(env["DROVER_CPUS"] == "1")
            #expect(env["OMP_NUM_THREADS"] == "1" && env["OPENBLAS_NUM_THREADS"] == "1" && env["TORCH_NUM_THREADS"] == "1")
            // A value in drover's own environment is the user's choice: kept, not replaced by the slot's.
            #expect(env["MKL_NUM_THREADS"] == "3")
            #expect(SlotShapingTests.cpusAllowed(pid) == SlotShapingTests.autoCpusAllowed(slot), "slot \(slot)")
        }
        drover.signal(SIGTERM)
        #expect(drover.waitForExit() == 0)
    }

    /// `drover scale` past the first workers gives the new one the next slot.
    @Test func aWorkerAddedByScaleGetsTheNextSlot() throws {
        let dir = TempDir("cl-scale")
        defer { dir.cleanup() }
        let drover = try DroverHarness(arguments: ["run", "--workers", "2", "--", "/bin/sh", "-c", Self.announce],
                                       directory: dir.path, environment: Self.environment([:]))
        defer { drover.terminate() }
        drover.waitForLine("app_01 | started pid=")
        let scale = try runCommand(Binaries.drover, ["scale", "app", "3", "-s", dir.file("drover.sock")])
        #expect(scale.status == 0, "\(scale.stdout)\(scale.stderr)")
        let pid = try #require(Self.startedPid(drover.waitForLine("app_02 | started pid=", "slot=2")))
        let env = SlotShapingTests.environment(pid)
        #expect(env["DROVER_SLOT"] == "2" && env["OMP_NUM_THREADS"] == "1")
        drover.signal(SIGTERM)
        #expect(drover.waitForExit() == 0)
    }

    @Test func workersAutoIsOneUnpinnedSlotPerUsableCPU() throws {
        let dir = TempDir("cl-auto")
        defer { dir.cleanup() }
        let usable = try Self.usableCPUs()
        let drover = try DroverHarness(arguments: ["run", "--workers", "auto", "--", "/bin/sh", "-c", Self.announce],
                                       directory: dir.path, environment: Self.environment([:]))
        defer { drover.terminate() }
        for slot in 0..<usable {
            let name = "app_" + (slot < 10 ? "0\(slot)" : String(slot))
            let pid = try #require(Self.startedPid(drover.waitForLine("\(name) | started pid=", "slot=\(slot)")))
            let env = SlotShapingTests.environment(pid)
            #expect(env["OMP_NUM_THREADS"] == "1" && env["DROVER_CPUS"] == "1")
            #expect(SlotShapingTests.cpusAllowed(pid) == SlotShapingTests.cpusAllowed(getpid()), "not pinned by default")
        }
        #expect(drover.lines(containing: "| started pid=").count == usable)
        drover.signal(SIGTERM)
        #expect(drover.waitForExit() == 0)
    }

    @Test func threadEnvNoneSetsNoThreadVariable() throws {
        let dir = TempDir("cl-none")
        defer { dir.cleanup() }
        let drover = try DroverHarness(arguments: [
            "run", "--workers", "2", "--thread-env", "none", "--", "/bin/sh", "-c", Self.announce,
        ], directory: dir.path, environment: Self.environment([:]))
        defer { drover.terminate() }
        let pid = try #require(Self.startedPid(drover.waitForLine("app_01 | started pid=", "slot=1")))
        let env = SlotShapingTests.environment(pid)
        #expect(env["OMP_NUM_THREADS"] == nil && env["MKL_NUM_THREADS"] == nil)
        #expect(env["DROVER_SLOT"] == "1")
        drover.signal(SIGTERM)
        #expect(drover.waitForExit() == 0)
    }

    /// tini mode wraps one program rather than running a pool: its one slot
    /// is every usable CPU, so the thread variables say what the cgroup allows.
    @Test func tiniModesOneSlotIsEveryUsableCPU() throws {
        let usable = try Self.usableCPUs()
        let result = try runCommand(Binaries.drover, ["run", "--", "/bin/sh", "-c", "echo omp=$OMP_NUM_THREADS cpus=$DROVER_CPUS slot=$DROVER_SLOT"],
                                    environment: Self.environment([:]), directory: NSTemporaryDirectory())
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("omp=\(usable) cpus=\(usable) slot=0"), "\(result.stdout)")
    }

    @Test func dryRunShowsTheSlotTable() throws {
        let dry = try runCommand(Binaries.drover, ["run", "--dry-run", "--workers", "2", "--cpu-affinity", "auto", "--", "/bin/true"],
                                 directory: NSTemporaryDirectory())
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("slots of app: cpus_per_worker 1, cpu_affinity auto, gpus none, thread_env auto\n"), "\(dry.stdout)")
        for slot in 0..<2 {
            let cores = SlotShapingTests.autoCores(slot).map(String.init).joined(separator: ",")
            #expect(dry.stdout.contains("  slot \(slot)  app:app_0\(slot)  cpus 1  cores \(cores.isEmpty ? "any" : cores)  "), "\(dry.stdout)")
        }
        #expect(dry.stdout.contains("threads 1\n"), "\(dry.stdout)")
    }

    @Test func badSlotFlagsAreUsageErrorsNamingTheValue() throws {
        let threadEnv = try runCommand(Binaries.drover, ["run", "--thread-env", "maybe", "--", "/bin/true"])
        #expect(threadEnv.status == 2)
        #expect(threadEnv.stderr.contains("--thread-env 'maybe' is not auto or none"), "\(threadEnv.stderr)")
        let list = try runCommand(Binaries.drover, ["run", "--cpu-affinity", "1-x", "--", "/bin/true"])
        #expect(list.status == 2)
        #expect(list.stderr.contains("--cpu-affinity '1-x' is not auto, none or a CPU list"), "\(list.stderr)")
        let outside = try runCommand(Binaries.drover, ["run", "--cpu-affinity", "4000", "--", "/bin/true"])
        #expect(outside.status == 2)
        #expect(outside.stderr.contains("--cpu-affinity: CPU 4000 is not allowed here"), "\(outside.stderr)")
        let withoutCommand = try runCommand(Binaries.drover, ["run", "--thread-env", "none"])
        #expect(withoutCommand.status == 2)
        #expect(withoutCommand.stderr.contains("need a command after --"), "\(withoutCommand.stderr)")
    }
}
