// A pool's slots: worker i (its process_num − numprocs_start, so a
// replacement and a restart keep it) owns slot i, which fixes its CPU
// count, the cores it is pinned to, its NUMA node and its GPU. Pure: the
// machine comes in as a MachineShape, so every layout is testable.

/// `[program:x]` cpus_per_worker, thread_env, cpu_affinity, gpus,
/// workers_per_gpu, as read.
package struct SlotSettings: Sendable, Equatable {
    package enum Affinity: Sendable, Equatable {
        case none
        case auto
        /// Slots are carved from these CPUs instead of the allowed set.
        case list([Int])
    }
    package enum GPUs: Sendable, Equatable {
        case none
        case auto
        case list([String])
    }

    package var cpusPerWorker = 1
    package var threadEnv = true
    package var affinity = Affinity.none
    package var gpus = GPUs.none
    package var workersPerGPU = 1

    package init() {}

    package static let cpusPerWorkerRange = 1...4096
    package static let workersPerGPURange = 1...1024
}

/// What one slot gives its worker.
package struct Slot: Sendable, Equatable {
    package var index: Int
    /// Threads a numeric library should start: cpus_per_worker, at most the usable CPUs.
    package var cpus: Int
    /// Pinned cores; empty when not pinned.
    package var cores: [Int]
    /// The NUMA node all of `cores` are on; nil when not pinned or spread.
    package var node: Int?
    /// CUDA_VISIBLE_DEVICES of the worker; nil without gpus.
    package var gpu: String?

    package init(index: Int, cpus: Int, cores: [Int] = [], node: Int? = nil, gpu: String? = nil) {
        self.index = index
        self.cpus = cpus
        self.cores = cores
        self.node = node
        self.gpu = gpu
    }
}

package struct SlotPlan: Sendable, Equatable {
    package var settings: SlotSettings
    /// Core sets in the order slots take them (wrapping when there are more slots).
    package var coreSets: [(cores: [Int], node: Int?)]
    package var gpus: [String]
    package var cpusPerSlot: Int
    /// Why `cpu_affinity = auto` pins nothing here; nil when it pins.
    package var autoPinningDeclined: String?

    package init(settings: SlotSettings, machine: MachineShape) {
        self.settings = settings
        cpusPerSlot = min(settings.cpusPerWorker, max(1, machine.usableCPUs))
        switch settings.affinity {
        case .none: coreSets = []
        case .auto where machine.usableCPUs < machine.allowedCPUs.count:
            // A CPU quota narrower than the cores it may run on (`docker run
            // --cpus=2` on a 64-core host): those cores are not this pool's.
            // Pinning would put it, and every container shaped the same way,
            // on the first few cores while the rest stay idle; unpinned, the
            // scheduler spreads the quota over all of them.
            coreSets = []
            autoPinningDeclined = "not pinning: the CPU quota (\(machine.usableCPUs) CPU\(machine.usableCPUs == 1 ? "" : "s")) "
                + "is smaller than the CPUs allowed (\(MachineShape.cpuListText(machine.allowedCPUs))), so those cores are shared "
                + "and every pool pinned this way would crowd onto the first of them; give a CPU list to pin anyway"
        case .auto: coreSets = Self.carve(allowed: machine.allowedCPUs, nodes: machine.numaNodes, size: settings.cpusPerWorker)
        case .list(let cpus):
            let onList = Set(cpus)
            let nodes = machine.numaNodes.mapValues { $0.filter(onList.contains) }.filter { !$0.value.isEmpty }
            coreSets = Self.carve(allowed: cpus, nodes: nodes, size: settings.cpusPerWorker)
        }
        switch settings.gpus {
        case .none: gpus = []
        case .auto: gpus = machine.gpus
        case .list(let list): gpus = list
        }
    }

    package static func == (a: SlotPlan, b: SlotPlan) -> Bool {
        a.settings == b.settings && a.gpus == b.gpus && a.cpusPerSlot == b.cpusPerSlot && a.autoPinningDeclined == b.autoPinningDeclined
            && a.coreSets.map(\.cores) == b.coreSets.map(\.cores) && a.coreSets.map(\.node) == b.coreSets.map(\.node)
    }

    /// `numprocs = auto` (or `auto-N`: N CPUs, or N GPU workers, left
    /// over): GPUs × workers_per_gpu when the pool has GPUs, else the
    /// CPUs slots may use over cpus_per_worker. nil when `text` is neither.
    package func autoCount(_ text: String, machine: MachineShape) -> Int? {
        if !gpus.isEmpty { return CPUBudget.autoCount(text, usable: gpus.count * settings.workersPerGPU) }
        var cpus = machine.usableCPUs
        if case .list(let list) = settings.affinity { cpus = min(cpus, list.count) }
        return CPUBudget.autoCount(text, usable: cpus).map { max(1, $0 / settings.cpusPerWorker) }
    }

    /// Slot `index`: cores and GPU round-robin over what there is.
    package func slot(_ index: Int) -> Slot {
        var slot = Slot(index: index, cpus: cpusPerSlot)
        if !coreSets.isEmpty {
            let set = coreSets[index % coreSets.count]
            slot.cores = set.cores
            slot.node = set.node
            slot.cpus = min(cpusPerSlot, set.cores.count)
        }
        if !gpus.isEmpty { slot.gpu = gpus[index % gpus.count] }
        return slot
    }

    /// Cuts `allowed` into sets of `size` cores, each on one NUMA node where
    /// a node has `size` cores left; what no node can fill alone is cut
    /// from the rest in CPU order. Whole-node sets are dealt out node by
    /// node in turn, so a pool smaller than the machine spreads over its
    /// nodes (memory bandwidth), and a set never straddles nodes when it
    /// need not. With fewer allowed cores than `size`, one set of them all.
    package static func carve(allowed: [Int], nodes: [Int: [Int]], size: Int) -> [(cores: [Int], node: Int?)] {
        let allowed = Array(Set(allowed)).sorted()
        guard !allowed.isEmpty else { return [] }
        guard size < allowed.count else { return [(allowed, nodes.count == 1 ? nodes.keys.first : nil)] }
        let allowedSet = Set(allowed)
        var perNode: [(node: Int?, sets: [[Int]])] = []
        var leftover: [Int] = []
        var placed = Set<Int>()
        for node in nodes.keys.sorted() {
            let cpus = nodes[node]!.filter { allowedSet.contains($0) && !placed.contains($0) }.sorted()
            placed.formUnion(cpus)
            let whole = cpus.count / size
            perNode.append((node, (0..<whole).map { Array(cpus[($0 * size)..<(($0 + 1) * size)]) }))
            leftover += cpus[(whole * size)...]
        }
        leftover += allowed.filter { !placed.contains($0) }
        if nodes.isEmpty {
            // No topology: all of it is one node of unknown number.
            let whole = leftover.count / size
            perNode.append((nil, (0..<whole).map { Array(leftover[($0 * size)..<(($0 + 1) * size)]) }))
            leftover = Array(leftover[(whole * size)...])
        }
        var result: [(cores: [Int], node: Int?)] = []
        var round = 0
        while true {
            var took = false
            for entry in perNode where round < entry.sets.count {
                result.append((entry.sets[round], entry.node))
                took = true
            }
            if !took { break }
            round += 1
        }
        leftover.sort()
        var start = 0
        while leftover.count - start >= size {
            result.append((Array(leftover[start..<(start + size)]), nil))
            start += size
        }
        return result
    }

    /// What a slot adds to its worker's environment `env` (the config's
    /// `[supervisord]` and `environment`): the thread variables (thread_env
    /// = auto) and CUDA_VISIBLE_DEVICES where neither `env` nor drover's own
    /// environment (`inherited`, which the worker inherits) sets them, so a
    /// value the user chose anywhere wins; then DROVER_SLOT, DROVER_CPUS,
    /// DROVER_GPU, which are drover's to say.
    package func addVariables(of slot: Slot, to env: inout [String: String], inherited: [String: String]) {
        func offer(_ name: String, _ value: String) {
            if env[name] == nil && inherited[name] == nil { env[name] = value }
        }
        if settings.threadEnv {
            for (name, value) in Self.threadVariables(cpus: slot.cpus) { offer(name, value) }
        }
        if let gpu = slot.gpu { offer("CUDA_VISIBLE_DEVICES", gpu) }
        env["DROVER_SLOT"] = String(slot.index)
        env["DROVER_CPUS"] = String(slot.cpus)
        if let gpu = slot.gpu { env["DROVER_GPU"] = gpu }
    }

    /// The thread variables numeric libraries read, and their value for a
    /// slot of `cpus` CPUs (TF's inter-op pool stays at 1: it runs ops side
    /// by side, each already using the intra-op threads).
    package static func threadVariables(cpus: Int) -> [(name: String, value: String)] {
        let n = String(cpus)
        return [("OMP_NUM_THREADS", n), ("MKL_NUM_THREADS", n), ("OPENBLAS_NUM_THREADS", n),
                ("NUMEXPR_NUM_THREADS", n), ("VECLIB_MAXIMUM_THREADS", n), ("RAYON_NUM_THREADS", n),
                ("TF_NUM_INTRAOP_THREADS", n), ("TF_NUM_INTEROP_THREADS", "1"), ("TORCH_NUM_THREADS", n)]
    }
}
