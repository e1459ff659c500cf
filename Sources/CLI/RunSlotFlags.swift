import Config

/// The slots of a config-less pool (`drover run [--workers N|auto] -- CMD`):
/// a config's `numprocs = auto` defaults (cpus_per_worker 1, thread_env
/// auto, cpu_affinity none) unless `--thread-env auto|none` or
/// `--cpu-affinity auto|none|LIST` says otherwise, read as the config keys
/// are. In tini mode (one worker, no `--listen`) drover is not running a
/// pool but wrapping one program, so its one slot is all the usable CPUs:
/// the thread variables then say what the cgroup allows, not 1.
struct RunSlotFlags {
    var threadEnv: String?
    var cpuAffinity: String?

    var given: Bool { threadEnv != nil || cpuAffinity != nil }

    func settings(machine: MachineShape, _ usage: (String) -> DroverCommand.UsageError) throws -> SlotSettings {
        var settings = SlotSettings()
        if let threadEnv {
            switch threadEnv.lowercased() {
            case "auto": settings.threadEnv = true
            case "none": settings.threadEnv = false
            default: throw usage("--thread-env '\(threadEnv)' is not auto or none")
            }
        }
        if let cpuAffinity {
            let text = cpuAffinity.lowercased()
            if text == "auto" {
                settings.affinity = .auto
            } else if text == "none" {
                settings.affinity = .none
            } else if let cpus = MachineShape.cpuList(text) {
                let allowed = Set(machine.allowedCPUs)
                let outside = cpus.filter { !allowed.contains($0) }
                guard outside.isEmpty else {
                    throw usage("--cpu-affinity: CPU \(MachineShape.cpuListText(outside)) is not allowed here (allowed: \(MachineShape.cpuListText(machine.allowedCPUs)))")
                }
                settings.affinity = .list(cpus)
            } else {
                throw usage("--cpu-affinity '\(cpuAffinity)' is not auto, none or a CPU list such as 0-3,8")
            }
        }
        return settings
    }

    /// `--workers N|auto|auto-N` (auto: one per usable CPU, or per CPU of
    /// the `--cpu-affinity` list) and the pool's slot plan.
    func plan(workers text: String, tini: (Int) -> Bool, machine: MachineShape,
              _ usage: (String) -> DroverCommand.UsageError) throws -> (workers: Int, slots: SlotPlan) {
        var settings = try settings(machine: machine, usage)
        let workers: Int
        if let count = SlotPlan(settings: settings, machine: machine).autoCount(text, machine: machine) {
            workers = count
        } else if let count = Int(text), count >= 1, count <= 4096 {
            workers = count
        } else {
            throw usage("--workers '\(text)' is not a positive number or auto")
        }
        if tini(workers) { settings.cpusPerWorker = max(1, machine.usableCPUs) }
        return (workers, SlotPlan(settings: settings, machine: machine))
    }
}
