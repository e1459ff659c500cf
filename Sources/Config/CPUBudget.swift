import Glibc
// How many CPUs this process may really use, for `numprocs = auto`: the
// affinity mask (taskset), the cgroup's cpuset and its CPU quota (docker
// --cpus, Kubernetes limits) all cap it; the smallest wins, at least 1.
// Both cgroup versions are read: v2's `cpu.max` and `cpuset.cpus.effective`,
// v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us` and `cpuset.cpus` (a node
// on cgroup v1 would otherwise give a limited container every CPU it has).

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
        if let cpuset = cgroupCpuset(fileRoot: fileRoot) { budget = min(budget, cpuset) }
        return budget == Int.max ? 1 : max(1, budget)
    }

    /// `auto` or `auto-N` for `numprocs`; nil when the text is neither.
    package static func autoCount(_ text: String, usable: Int) -> Int? {
        let t = text.pyStripped.lowercased()
        if t == "auto" { return usable }
        guard t.hasPrefix("auto-"), let n = Int(t.dropFirst(5)), n >= 0 else { return nil }
        return max(1, usable - n)
    }

    /// The tightest CPU quota of this process's cgroup and its ancestors, in
    /// CPUs rounded up: v2 `cpu.max` (`QUOTA PERIOD` or `max`), v1
    /// `cpu.cfs_quota_us` over `cpu.cfs_period_us` (-1: none). nil when no
    /// level of either version sets one.
    static func cgroupQuota(fileRoot: String) -> Int? {
        var best: Int?
        func take(_ quota: Double, _ period: Double) {
            guard quota > 0, period > 0 else { return }
            best = Swift.min(best ?? Int.max, Swift.max(1, Int((quota / period).rounded(.up))))
        }
        let cgroups = Membership(fileRoot: fileRoot)
        for dir in cgroups.levels(version2: true) {
            guard let text = ConfigPaths.readText(dir + "/cpu.max") else { continue }
            let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
            if let quota = fields.first.flatMap({ Double($0) }) {
                take(quota, fields.count >= 2 ? Double(fields[1]) ?? 100_000 : 100_000)
            }
        }
        for dir in cgroups.levels(controller: "cpu") {
            guard let quota = ConfigPaths.readText(dir + "/cpu.cfs_quota_us").flatMap({ Double($0.pyStripped) }) else { continue }
            take(quota, ConfigPaths.readText(dir + "/cpu.cfs_period_us").flatMap { Double($0.pyStripped) } ?? 100_000)
        }
        return best
    }

    /// How many CPUs the cgroup's cpuset allows: the nearest level that
    /// says (v2 `cpuset.cpus.effective`, v1 `cpuset.cpus`; an empty file
    /// means "as the parent"). nil when no level says.
    static func cgroupCpuset(fileRoot: String) -> Int? {
        let cgroups = Membership(fileRoot: fileRoot)
        var best: Int?
        for (levels, file) in [(cgroups.levels(version2: true), "cpuset.cpus.effective"), (cgroups.levels(controller: "cpuset"), "cpuset.cpus")] {
            for dir in levels {
                guard let text = ConfigPaths.readText(dir + "/" + file), let count = cpuListCount(text) else { continue }
                best = Swift.min(best ?? Int.max, count)
                break
            }
        }
        return best
    }

    /// `0-3,8,10-11` → 7; nil for an empty or malformed list.
    static func cpuListCount(_ text: String) -> Int? {
        let list = text.pyStripped
        guard !list.isEmpty else { return nil }
        var count = 0
        for part in list.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard let first = Int(bounds[0]) else { return nil }
            let last = bounds.count == 2 ? Int(bounds[1]) : first
            guard bounds.count <= 2, let last, last >= first else { return nil }
            count += last - first + 1
        }
        return count > 0 ? count : nil
    }

    /// This process's cgroups (`/proc/self/cgroup`) and the directories of
    /// each, from its own up to the hierarchy's root, under `fileRoot`.
    struct Membership {
        let root: String
        /// `0::/path` (v2), or `N:cpu,cpuacct:/path` (v1: controllers, path).
        var lines: [(controllers: [String], path: String)] = []

        init(fileRoot: String) {
            root = fileRoot.hasSuffix("/") ? String(fileRoot.dropLast()) : fileRoot
            for line in (ConfigPaths.readText(root + "/proc/self/cgroup") ?? "").split(separator: "\n") {
                let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard fields.count == 3 else { continue }
                lines.append((fields[1].split(separator: ",").map(String.init), String(fields[2])))
            }
        }

        /// v2: the unified hierarchy at sys/fs/cgroup.
        func levels(version2: Bool) -> [String] {
            guard let line = lines.first(where: { $0.controllers.isEmpty }) else { return [] }
            return Self.walk(root + "/sys/fs/cgroup", line.path)
        }

        /// v1: the hierarchy holding `controller`, mounted at
        /// sys/fs/cgroup/<its controllers joined by commas> (or a link named
        /// after the controller alone, as distributions add).
        func levels(controller: String) -> [String] {
            guard let line = lines.first(where: { $0.controllers.contains(controller) }) else { return [] }
            let joined = line.controllers.joined(separator: ",")
            let mount = [joined, controller].map { root + "/sys/fs/cgroup/" + $0 }.first { ConfigPaths.exists($0) }
            guard let mount else { return [] }
            return Self.walk(mount, line.path)
        }

        /// `base + path`, then each parent, to `base` itself. Inside a
        /// container without a cgroup namespace the path names the host's
        /// view (`/docker/ID`) while the mount is already the container's
        /// own cgroup: the walk reaches it at `base`.
        static func walk(_ base: String, _ path: String) -> [String] {
            var levels: [String] = []
            var current = path.isEmpty ? "/" : path
            while true {
                levels.append(base + (current == "/" ? "" : current))
                if current == "/" || current.isEmpty { break }
                current = ConfigPaths.directory(of: current)
                if current.isEmpty { current = "/" }
            }
            return levels
        }
    }
}
