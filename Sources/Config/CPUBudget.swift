import Glibc
// How many CPUs this process may really use, for `numprocs = auto`: the
// affinity mask (taskset, cpuset) and the cgroup v2 `cpu.max` quota (docker
// --cpus, Kubernetes limits) both cap it; the smaller one wins, at least 1.

import CSystem

package enum CPUBudget {
    /// The usable CPU count of this process.
    package static func usableCPUs() -> Int {
        usableCPUs(affinity: Int(cs_cpu_count_affinity()), fileRoot: "/")
    }

    /// Testable core: `fileRoot` stands for `/` (it holds proc/self/cgroup
    /// and sys/fs/cgroup/…).
    package static func usableCPUs(affinity: Int, fileRoot: String) -> Int {
        var budget = affinity > 0 ? affinity : Int.max
        if let quota = cgroupQuota(fileRoot: fileRoot) { budget = min(budget, quota) }
        return budget == Int.max ? 1 : max(1, budget)
    }

    /// `auto` or `auto-N` for `numprocs`; nil when the text is neither.
    package static func autoCount(_ text: String, usable: Int) -> Int? {
        let t = text.pyStripped.lowercased()
        if t == "auto" { return usable }
        guard t.hasPrefix("auto-"), let n = Int(t.dropFirst(5)), n >= 0 else { return nil }
        return max(1, usable - n)
    }

    /// The tightest `cpu.max` of this process's cgroup and its ancestors,
    /// in CPUs rounded up; nil when no level sets a quota (or no cgroup v2).
    static func cgroupQuota(fileRoot: String) -> Int? {
        let root = fileRoot.hasSuffix("/") ? String(fileRoot.dropLast()) : fileRoot
        guard let text = ConfigPaths.readText(root + "/proc/self/cgroup") else { return nil }
        // The v2 entry is `0::/path`.
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else { return nil }
        var path = String(line.dropFirst(3))
        var best: Int?
        while true {
            let dir = root + "/sys/fs/cgroup" + (path == "/" ? "" : path)
            if let max = ConfigPaths.readText(dir + "/cpu.max") {
                let f = max.split(whereSeparator: { $0 == " " || $0 == "\n" })
                if f.count >= 1, let quota = Double(f[0]) {
                    let period = f.count >= 2 ? Double(f[1]) ?? 100_000 : 100_000
                    if period > 0 {
                        let cpus = Int((quota / period).rounded(.up))
                        best = Swift.min(best ?? Int.max, Swift.max(1, cpus))
                    }
                }
            }
            if path == "/" || path.isEmpty { break }
            path = ConfigPaths.directory(of: path)
        }
        return best
    }
}
