import Glibc
// The machine as a pool's slots see it: which CPUs this process may run on
// (the affinity mask ∩ the cgroup's cpuset), how they group into NUMA
// nodes, how many of them the cgroup quota lets it use, and which GPUs are
// here. Read once per config load; every path is under an injectable root
// so tests build synthetic /sys, /proc and /dev trees.

import CSystem

package struct MachineShape: Sendable, Equatable {
    /// CPUs this process may use at once (CPUBudget: affinity, quota, cpuset).
    package var usableCPUs: Int
    /// CPU numbers a worker may be pinned to, ascending.
    package var allowedCPUs: [Int]
    /// The allowed CPUs of each NUMA node, by node number; empty when the
    /// machine does not say (then all allowed CPUs form one node).
    package var numaNodes: [Int: [Int]]
    /// GPUs as CUDA numbers them in this process (`0`, `1`, …), or as a
    /// config's list names them.
    package var gpus: [String]

    package init(usableCPUs: Int, allowedCPUs: [Int], numaNodes: [Int: [Int]] = [:], gpus: [String] = []) {
        self.usableCPUs = usableCPUs
        self.allowedCPUs = allowedCPUs
        self.numaNodes = numaNodes
        self.gpus = gpus
    }

    /// A machine of `cpus` CPUs numbered from 0, one node, no GPU.
    package static func plain(cpus: Int) -> MachineShape {
        MachineShape(usableCPUs: cpus, allowedCPUs: Array(0..<max(1, cpus)))
    }

    /// This host, as drover runs on it.
    package static func current(environment: [String: String]) -> MachineShape {
        read(fileRoot: "/", affinity: affinityCPUs(), environment: environment)
    }

    /// Testable core: `fileRoot` stands for `/` (proc/self/cgroup,
    /// sys/fs/cgroup, sys/devices/system/node, proc/driver/nvidia, dev);
    /// `affinity` is what sched_getaffinity returned.
    package static func read(fileRoot: String, affinity: [Int], environment: [String: String]) -> MachineShape {
        let root = fileRoot.hasSuffix("/") ? String(fileRoot.dropLast()) : fileRoot
        var allowed = affinity
        if let cpuset = cgroupCpusetList(fileRoot: root) {
            let set = Set(cpuset)
            let both = allowed.filter { set.contains($0) }
            allowed = allowed.isEmpty ? cpuset : both
        }
        allowed = Array(Set(allowed)).sorted()
        let usable = CPUBudget.usableCPUs(affinity: allowed.count, fileRoot: root)
        var nodes: [Int: [Int]] = [:]
        let allowedSet = Set(allowed)
        for name in directoryEntries(root + "/sys/devices/system/node") where name.hasPrefix("node") {
            guard let node = Int(name.dropFirst(4)),
                  let text = ConfigPaths.readText(root + "/sys/devices/system/node/\(name)/cpulist"),
                  let cpus = cpuList(text) else { continue }
            let mine = cpus.filter { allowedSet.contains($0) }
            if !mine.isEmpty { nodes[node] = mine }
        }
        return MachineShape(usableCPUs: usable, allowedCPUs: allowed, numaNodes: nodes,
                            gpus: discoverGPUs(fileRoot: root, environment: environment))
    }

    /// The nearest cgroup level's cpuset as CPU numbers (v2
    /// `cpuset.cpus.effective`, else v1 `cpuset.cpus`); nil when none says.
    static func cgroupCpusetList(fileRoot: String) -> [Int]? {
        let cgroups = CPUBudget.Membership(fileRoot: fileRoot)
        for (levels, file) in [(cgroups.levels(version2: true), "cpuset.cpus.effective"), (cgroups.levels(controller: "cpuset"), "cpuset.cpus")] {
            for dir in levels {
                if let text = ConfigPaths.readText(dir + "/" + file), let cpus = cpuList(text) { return cpus }
            }
        }
        return nil
    }

    /// NVIDIA GPUs visible here, as CUDA ordinals. `NVIDIA_VISIBLE_DEVICES`
    /// of `none`/`void` means none; otherwise the device nodes
    /// (/dev/nvidia0, …: what a container was given), else the driver's
    /// /proc/driver/nvidia/gpus entries, else the variable's own list.
    static func discoverGPUs(fileRoot: String, environment: [String: String]) -> [String] {
        let visible = environment["NVIDIA_VISIBLE_DEVICES"]?.pyStripped.lowercased()
        if visible == "none" || visible == "void" { return [] }
        var count = directoryEntries(fileRoot + "/dev").filter { name in
            name.hasPrefix("nvidia") && name.count > 6 && name.dropFirst(6).allSatisfy(\.isASCIIDigit)
        }.count
        if count == 0 { count = directoryEntries(fileRoot + "/proc/driver/nvidia/gpus").count }
        if count == 0, let visible, !visible.isEmpty, visible != "all" {
            count = visible.split(separator: ",").filter { !String($0).pyStripped.isEmpty }.count
        }
        return (0..<count).map(String.init)
    }

    /// `0-3,8,10-11` → [0, 1, 2, 3, 8, 10, 11]; nil for an empty or
    /// malformed list (or one past 1 << 16: no machine has that many CPUs).
    package static func cpuList(_ text: String) -> [Int]? {
        let list = text.pyStripped
        guard !list.isEmpty else { return nil }
        var cpus: [Int] = []
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = String(part).pyStripped.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count <= 2, let first = Int(bounds[0]), first >= 0 else { return nil }
            let last = bounds.count == 2 ? Int(bounds[1]) : first
            guard let last, last >= first, last < 1 << 16 else { return nil }
            cpus.append(contentsOf: first...last)
        }
        return Array(Set(cpus)).sorted()
    }

    /// [0, 1, 2, 3, 8] → `0-3,8`, as the kernel writes it.
    package static func cpuListText(_ cpus: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        let sorted = cpus.sorted()
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(j == i ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// The CPUs of this process's affinity mask.
    static func affinityCPUs() -> [Int] {
        var buffer = [Int32](repeating: 0, count: 4096)
        let n = Int(cs_affinity_list(&buffer, Int32(buffer.count)))
        return n > 0 ? buffer[..<n].map(Int.init) : []
    }

    static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
