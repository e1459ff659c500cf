import Foundation
import Testing

/// What the fault tests measure and how they make faults.
enum Faults {
    /// drover's CPU use over `seconds`, in percent of one core.
    static func cpuPercent(_ pid: Int32, over seconds: Double) -> Double {
        let before = cpuTicks(pid) ?? 0
        usleep(UInt32(seconds * 1_000_000))
        let spent = (cpuTicks(pid) ?? 0) - before
        return Double(spent) / Double(ticksPerSecond) / seconds * 100
    }

    /// One `GET /v1/status` on the control socket: its wall time in seconds,
    /// nil when it did not answer 200 (the request times out after 5 s).
    static func controlLatency(_ socket: String, _ target: String = "/v1/status") -> Double? {
        let start = Date()
        guard RawHTTP.get(unix: socket, target)?.status == 200 else { return nil }
        return Date().timeIntervalSince(start)
    }

    /// The arguments that run drover unable to override file permissions.
    /// Tests run as root here, and root writes into a mode-0555 directory
    /// and reads a mode-0000 file regardless; dropping CAP_DAC_OVERRIDE and
    /// CAP_DAC_READ_SEARCH (from the bounding and inheritable sets, so the
    /// exec of drover cannot regain them) makes the modes bind, as they do
    /// for a non-root drover. Not root: drover as it is.
    static func withoutPermissionOverride(_ arguments: [String]) -> (executable: String, arguments: [String]) {
        guard geteuid() == 0 else { return (Binaries.drover, arguments) }
        let drop = "-dac_override,-dac_read_search"
        return ("/usr/bin/setpriv", ["--inh-caps=\(drop)", "--bounding-set=\(drop)", "--", Binaries.drover] + arguments)
    }

    /// Runs `command` (e.g. mount); returns whether it exited 0.
    @discardableResult
    static func run(_ command: String, _ arguments: [String], quiet: Bool = false) -> Bool {
        guard let result = try? runCommand(command, arguments, timeout: 20) else { return false }
        if result.status != 0 && !quiet {
            print("\(command) \(arguments.joined(separator: " ")): exit \(result.status): \(result.stderr)")
        }
        return result.status == 0
    }

    /// A small tmpfs at `path` (so ENOSPC can be made), or false when the
    /// host refuses mount (no CAP_SYS_ADMIN).
    static func mountTmpfs(at path: String, kilobytes: Int) -> Bool {
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k,mode=0755", "tmpfs", path], quiet: true)
    }

    static func unmount(_ path: String) {
        if !run("/usr/bin/umount", [path], quiet: true) { run("/usr/bin/umount", ["-l", path]) }
    }

    /// The lines of drover's output that contain every fragment.
    static func count(_ drover: DroverHarness, _ fragments: String...) -> Int {
        drover.output.filter { line in fragments.allSatisfy { line.contains($0) } }.count
    }
}
