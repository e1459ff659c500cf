import Foundation
import Glibc
import Testing
@testable import System

/// Spawner's CPU list: the child runs on those CPUs from its start, the
/// spawning thread keeps its own, and a list the kernel refuses is an error
/// that names it.
@Suite struct PinnedSpawnTests {
    func cpusAllowed(_ pid: pid_t) -> String? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
            .map { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces) }
    }

    func reap(_ pid: pid_t) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    @Test func childIsPinnedAndTheSpawnerIsNot() throws {
        let own = cpusAllowed(getpid())
        let ownThread = try String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        let lastCPU = Int(own?.split(separator: ",").last?.split(separator: "-").last ?? "0") ?? 0
        var request = SpawnRequest(argv: ["/bin/sleep", "30"], environment: [])
        request.cpus = [lastCPU]
        let pid = try Spawner.spawn(request)
        defer { reap(pid) }
        #expect(cpusAllowed(pid) == String(lastCPU))
        let after = try String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        #expect(after == ownThread, "the spawning thread gets its own mask back")
    }

    @Test func cpusNotAllowedAreAnErrorNamingThem() {
        var request = SpawnRequest(argv: ["/bin/true"], environment: [])
        request.cpus = [1000]
        do {
            let pid = try Spawner.spawn(request)
            reap(pid)
            Issue.record("spawned on a CPU that does not exist")
        } catch {
            #expect(error.description.contains("pinned to CPUs 1000"), "\(error)")
        }
    }
}
