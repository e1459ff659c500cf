// `[program:x]` cpus_per_worker, thread_env, cpu_affinity, gpus and
// workers_per_gpu: read before numprocs, since `numprocs = auto` counts
// slots. Like numprocs, they see only %(here)s and %(ENV_X)s.

extension ConfigLoadContext {
    mutating func readSlotSettings(_ r: inout ConfigSectionReader, _ sectionName: String) -> SlotSettings {
        var settings = SlotSettings()
        if let n = r.int("cpus_per_worker", &diags, SlotSettings.cpusPerWorkerRange) { settings.cpusPerWorker = n }
        if let n = r.int("workers_per_gpu", &diags, SlotSettings.workersPerGPURange) { settings.workersPerGPU = n }
        if let (v, e) = r.string("thread_env", &diags) {
            switch v.pyStripped.lowercased() {
            case "auto": settings.threadEnv = true
            case "none": settings.threadEnv = false
            default: diags.error(e.file, e.line, sectionName, "thread_env", "'\(v)' is not auto or none")
            }
        }
        if let (v, e) = r.string("cpu_affinity", &diags) {
            let text = v.pyStripped.lowercased()
            if text == "auto" { settings.affinity = .auto } else if text == "none" { settings.affinity = .none } else if let cpus = MachineShape.cpuList(text) {
                let allowed = Set(machine.allowedCPUs)
                let outside = cpus.filter { !allowed.contains($0) }
                if outside.isEmpty {
                    settings.affinity = .list(cpus)
                } else {
                    host.problem(e, sectionName, "cpu_affinity",
                                 "CPU \(MachineShape.cpuListText(outside)) is not allowed here (allowed: \(MachineShape.cpuListText(machine.allowedCPUs)))",
                                 &diags)
                    let inside = cpus.filter(allowed.contains)
                    settings.affinity = inside.isEmpty ? .none : .list(inside)
                }
            } else {
                diags.error(e.file, e.line, sectionName, "cpu_affinity",
                            "'\(v)' is not auto, none or a CPU list such as 0-3,8")
            }
        }
        if let (v, e) = r.string("gpus", &diags) {
            let text = v.pyStripped
            switch text.lowercased() {
            case "auto":
                settings.gpus = .auto
                if machine.gpus.isEmpty {
                    diags.warn(e.file, e.line, sectionName, "gpus",
                               "no GPU found here (NVIDIA_VISIBLE_DEVICES, /dev/nvidia*, /proc/driver/nvidia/gpus); workers get no CUDA_VISIBLE_DEVICES")
                }
            case "none": settings.gpus = .none
            default:
                let list = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).pyStripped }
                if list.isEmpty || list.contains(where: { $0.isEmpty || $0.contains(where: \.isWhitespace) }) {
                    diags.error(e.file, e.line, sectionName, "gpus", "'\(v)' is not auto, none or a list of GPUs such as 0,1")
                } else {
                    settings.gpus = .list(list)
                }
            }
        } else if let e = r.entry("workers_per_gpu") {
            diags.warn(e.file, e.line, sectionName, "workers_per_gpu", "ignored: the program has no gpus")
        }
        return settings
    }
}
