// `drover check`'s slot table: for each program that shapes its slots,
// slot → worker, cores, NUMA node, GPU and thread variables as they would
// be on this machine, then the machine they were laid out on.

package func slotTables(_ config: DroverConfig) -> String {
    var out = ""
    for program in config.programs {
        guard let plan = program.slots else { continue }
        let s = plan.settings
        let affinity: String
        switch s.affinity {
        case .none: affinity = "none"
        case .auto: affinity = "auto"
        case .list(let cpus): affinity = MachineShape.cpuListText(cpus)
        }
        let gpus: String
        switch s.gpus {
        case .none: gpus = "none"
        case .auto: gpus = "auto"
        case .list(let list): gpus = list.joined(separator: ",")
        }
        out += "slots of \(program.name): cpus_per_worker \(s.cpusPerWorker), cpu_affinity \(affinity), gpus \(gpus)"
        if s.gpus != .none { out += ", workers_per_gpu \(s.workersPerGPU)" }
        out += ", thread_env \(s.threadEnv ? "auto" : "none")\n"
        for p in program.processes {
            guard let slot = p.slot else { continue }
            var line = "  slot \(slot.index)  \(p.fullName)  cpus \(slot.cpus)"
            line += "  cores " + (slot.cores.isEmpty ? "any" : MachineShape.cpuListText(slot.cores))
            line += "  node " + (slot.node.map(String.init) ?? "-")
            line += "  gpu " + (slot.gpu ?? "-")
            line += "  threads " + (s.threadEnv ? (p.environment["OMP_NUM_THREADS"] ?? "as set by drover's environment") : "not set")
            out += line + "\n"
        }
    }
    if out.isEmpty { return "" }
    if let machine = config.machine { out += "machine: " + describe(machine) + "\n" }
    return out
}

/// `2 usable CPUs, allowed 0-1, NUMA node 0: 0-1, no GPU`.
func describe(_ machine: MachineShape) -> String {
    var text = "\(machine.usableCPUs) usable CPU\(machine.usableCPUs == 1 ? "" : "s"), allowed \(MachineShape.cpuListText(machine.allowedCPUs))"
    if machine.numaNodes.count > 1 {
        text += ", NUMA " + machine.numaNodes.keys.sorted().map { "node \($0): \(MachineShape.cpuListText(machine.numaNodes[$0]!))" }.joined(separator: ", ")
    } else {
        text += ", one NUMA node"
    }
    text += machine.gpus.isEmpty ? ", no GPU" : ", GPUs \(machine.gpus.joined(separator: ","))"
    return text
}
