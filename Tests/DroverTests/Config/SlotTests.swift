import Foundation
import Testing
@testable import Config

/// Machine-shaped slots (SPEC §3 cpus_per_worker, thread_env, cpu_affinity,
/// gpus): the machine read from synthetic /proc, /sys and /dev trees, the
/// slot layout as a pure function of it, and what each worker's spec gets.
@Suite struct SlotTests {
    /// A fake `/`: this process's cgroup line, files under it, nothing else.
    func fakeRoot(cgroup: String = "0::/\n", files: [String: String] = [:]) -> TempDir {
        let dir = TempDir("machine")
        dir.write("proc/self/cgroup", cgroup)
        for (path, text) in files { dir.write(path, text) }
        return dir
    }

    func nodes(_ lists: [Int: String]) -> [String: String] {
        var files: [String: String] = [:]
        for (node, list) in lists { files["sys/devices/system/node/node\(node)/cpulist"] = list + "\n" }
        return files
    }

    // MARK: reading the machine

    @Test func oneTwoAndSixtyFourCPUs() {
        for count in [1, 2, 64] {
            let root = fakeRoot()
            let machine = MachineShape.read(fileRoot: root.path, affinity: Array(0..<count), environment: [:])
            #expect(machine.usableCPUs == count)
            #expect(machine.allowedCPUs == Array(0..<count))
            #expect(machine.gpus.isEmpty)
            let plan = SlotPlan(settings: { var s = SlotSettings(); s.affinity = .auto; return s }(), machine: machine)
            #expect(plan.autoCount("auto", machine: machine) == count)
            #expect((0..<count).map { plan.slot($0).cores } == (0..<count).map { [$0] })
        }
    }

    @Test func cgroupV2CpusetAndQuotaOfOneAndAHalf() {
        // 8 CPUs in the mask, the cpuset allows 2-5, the quota is 1.5 CPUs.
        let root = fakeRoot(cgroup: "0::/pod/c1\n", files: [
            "sys/fs/cgroup/pod/c1/cpu.max": "150000 100000\n",
            "sys/fs/cgroup/pod/c1/cpuset.cpus.effective": "2-5\n",
        ])
        let machine = MachineShape.read(fileRoot: root.path, affinity: Array(0..<8), environment: [:])
        #expect(machine.allowedCPUs == [2, 3, 4, 5])
        #expect(machine.usableCPUs == 2)  // 1.5 rounded up
        var settings = SlotSettings()
        settings.affinity = .auto
        let plan = SlotPlan(settings: settings, machine: machine)
        #expect(plan.autoCount("auto", machine: machine) == 2)
        // 2 CPUs of time over 4 allowed cores: the cores are shared, so auto
        // does not pin (every container alike would crowd onto cores 2 and 3).
        #expect(plan.slot(0).cores == [] && plan.slot(1).cores == [])
        #expect(plan.autoPinningDeclined?.contains("the CPU quota (2 CPUs) is smaller than the CPUs allowed (2-5)") == true)
        // A list pins where it says.
        settings.affinity = .list([4, 5])
        let listed = SlotPlan(settings: settings, machine: machine)
        #expect(listed.slot(0).cores == [4] && listed.slot(1).cores == [5] && listed.autoPinningDeclined == nil)
        // A cpuset as wide as the quota is the pool's own: pinned.
        let own = fakeRoot(cgroup: "0::/pod/c1\n", files: [
            "sys/fs/cgroup/pod/c1/cpu.max": "200000 100000\n",
            "sys/fs/cgroup/pod/c1/cpuset.cpus.effective": "2-3\n",
        ])
        let ownMachine = MachineShape.read(fileRoot: own.path, affinity: Array(0..<8), environment: [:])
        settings.affinity = .auto
        let pinned = SlotPlan(settings: settings, machine: ownMachine)
        #expect(pinned.slot(0).cores == [2] && pinned.slot(1).cores == [3] && pinned.autoPinningDeclined == nil)
    }

    @Test func cgroupV1CpusetAndQuota() {
        let root = fakeRoot(cgroup: "5:cpuset:/docker/abc\n4:cpu,cpuacct:/docker/abc\n", files: [
            "sys/fs/cgroup/cpuset/docker/abc/cpuset.cpus": "0,2,4,6\n",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "300000\n",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        ])
        let machine = MachineShape.read(fileRoot: root.path, affinity: Array(0..<8), environment: [:])
        #expect(machine.allowedCPUs == [0, 2, 4, 6])
        #expect(machine.usableCPUs == 3)
        var settings = SlotSettings()
        settings.affinity = .auto
        settings.cpusPerWorker = 2
        let plan = SlotPlan(settings: settings, machine: machine)
        #expect(plan.autoCount("auto", machine: machine) == 1)  // 3 CPUs / 2
        #expect(plan.slot(0).cpus == 2)
        #expect(plan.slot(0).cores == [] && plan.autoPinningDeclined != nil)  // quota 3 < 4 allowed: shared cores
        // Without the quota the cpuset is the pool's own: slots of 2 cores.
        let noQuota = MachineShape(usableCPUs: 4, allowedCPUs: machine.allowedCPUs)
        let pinned = SlotPlan(settings: settings, machine: noQuota)
        #expect(pinned.slot(0).cores == [0, 2] && pinned.slot(1).cores == [4, 6])
    }

    @Test func affinityMaskNarrowsTheCpuset() {
        let root = fakeRoot(cgroup: "0::/\n", files: ["sys/fs/cgroup/cpuset.cpus.effective": "0-7\n"])
        let machine = MachineShape.read(fileRoot: root.path, affinity: [1, 3, 9], environment: [:])
        #expect(machine.allowedCPUs == [1, 3])
    }

    // MARK: NUMA

    @Test func twoNumaNodesKeepASlotOnOneNodeAndSpreadSlotsOverBoth() {
        let root = fakeRoot(files: nodes([0: "0-3", 1: "4-7"]))
        let machine = MachineShape.read(fileRoot: root.path, affinity: Array(0..<8), environment: [:])
        #expect(machine.numaNodes == [0: [0, 1, 2, 3], 1: [4, 5, 6, 7]])
        var settings = SlotSettings()
        settings.affinity = .auto
        settings.cpusPerWorker = 2
        let plan = SlotPlan(settings: settings, machine: machine)
        #expect(plan.coreSets.map(\.cores) == [[0, 1], [4, 5], [2, 3], [6, 7]])
        #expect(plan.coreSets.map(\.node) == [0, 1, 0, 1])
        // Three CPUs a slot: one per node fits, the two left over are spread.
        settings.cpusPerWorker = 3
        let three = SlotPlan(settings: settings, machine: machine)
        #expect(three.coreSets.map(\.cores) == [[0, 1, 2], [4, 5, 6]])
        #expect(three.coreSets.map(\.node) == [0, 1])
        // More slots than core sets share them in turn (kept per slot index).
        #expect(three.slot(2).cores == [0, 1, 2] && three.slot(3).cores == [4, 5, 6])
    }

    @Test func interleavedNodeNumberingAndACpusetAcrossNodes() {
        // Node 0 holds even CPUs, node 1 odd ones (as some BIOSes number them); the cpuset leaves 0, 2, 1.
        let root = fakeRoot(files: nodes([0: "0,2,4,6", 1: "1,3,5,7"]).merging(
            ["sys/fs/cgroup/cpuset.cpus.effective": "0-2\n"]) { a, _ in a })
        let machine = MachineShape.read(fileRoot: root.path, affinity: Array(0..<8), environment: [:])
        #expect(machine.numaNodes == [0: [0, 2], 1: [1]])
        let sets = SlotPlan.carve(allowed: machine.allowedCPUs, nodes: machine.numaNodes, size: 2)
        #expect(sets.map(\.cores) == [[0, 2]])  // CPU 1 alone cannot fill a slot of 2
        #expect(sets.map(\.node) == [0])
    }

    @Test func moreCPUsPerWorkerThanAllowedGivesAllOfThem() {
        let sets = SlotPlan.carve(allowed: [0, 1], nodes: [:], size: 4)
        #expect(sets.map(\.cores) == [[0, 1]])
        var settings = SlotSettings()
        settings.affinity = .auto
        settings.cpusPerWorker = 4
        let plan = SlotPlan(settings: settings, machine: .plain(cpus: 2))
        #expect(plan.slot(0).cpus == 2)  // never more threads than usable CPUs
        #expect(plan.autoCount("auto", machine: .plain(cpus: 2)) == 1)
    }

    // MARK: GPUs

    @Test func zeroOneAndFourFakeGPUs() {
        #expect(MachineShape.read(fileRoot: fakeRoot().path, affinity: [0], environment: [:]).gpus == [])
        let one = fakeRoot(files: ["dev/nvidia0": "", "dev/nvidiactl": "", "dev/nvidia-uvm": ""])
        #expect(MachineShape.read(fileRoot: one.path, affinity: [0], environment: [:]).gpus == ["0"])
        let four = fakeRoot(files: [
            "proc/driver/nvidia/gpus/0000:01:00.0/information": "", "proc/driver/nvidia/gpus/0000:02:00.0/information": "",
            "proc/driver/nvidia/gpus/0000:03:00.0/information": "", "proc/driver/nvidia/gpus/0000:04:00.0/information": "",
        ])
        let machine = MachineShape.read(fileRoot: four.path, affinity: [0, 1], environment: [:])
        #expect(machine.gpus == ["0", "1", "2", "3"])
        // NVIDIA_VISIBLE_DEVICES=none hides them; a list alone counts.
        #expect(MachineShape.read(fileRoot: four.path, affinity: [0], environment: ["NVIDIA_VISIBLE_DEVICES": "none"]).gpus == [])
        #expect(MachineShape.read(fileRoot: fakeRoot().path, affinity: [0],
                                  environment: ["NVIDIA_VISIBLE_DEVICES": "GPU-a,GPU-b"]).gpus == ["0", "1"])

        var settings = SlotSettings()
        settings.gpus = .auto
        settings.workersPerGPU = 2
        let plan = SlotPlan(settings: settings, machine: machine)
        #expect(plan.autoCount("auto", machine: machine) == 8)
        #expect((0..<8).map { plan.slot($0).gpu } == ["0", "1", "2", "3", "0", "1", "2", "3"])
    }

    // MARK: through the config

    @Test func numprocsAutoCountsSlotsAndEachWorkerGetsItsThreadEnvironment() throws {
        let f = ConfigFixture()
        let config = try f.load("""
            [program:m]
            command = /bin/sleep 60 %(slot)s %(cpus)s
            numprocs = auto
            numprocs_start = 5
            cpus_per_worker = 2
            environment = MKL_NUM_THREADS="7"
            """, cpus: 8)
        let pool = config.programs[0]
        #expect(pool.numprocs == 4)
        for (i, p) in pool.processes.enumerated() {
            #expect(p.slot == Slot(index: i, cpus: 2))
            #expect(p.argv == ["/bin/sleep", "60", String(i), "2"])
            #expect(p.environment["DROVER_SLOT"] == String(i))
            #expect(p.environment["DROVER_CPUS"] == "2")
            for name in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                         "RAYON_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TORCH_NUM_THREADS"] {
                #expect(p.environment[name] == "2", "\(name)")
            }
            #expect(p.environment["TF_NUM_INTEROP_THREADS"] == "1")
            #expect(p.environment["MKL_NUM_THREADS"] == "7")  // the config's own value wins
            #expect(p.environment["CUDA_VISIBLE_DEVICES"] == nil && p.environment["DROVER_GPU"] == nil)
        }
        // A worker added by `scale` past numprocs gets the next slot.
        #expect(try pool.process(number: 9).slot?.index == 4)
        // A replacement on a spare port keeps its slot.
        #expect(try pool.process(number: 6, port: 9999).slot?.index == 1)
    }

    @Test func threadEnvNoneAndDroversOwnEnvironmentAreLeftAlone() throws {
        let f = ConfigFixture()
        let none = try f.load("""
            [program:m]
            command = /bin/true
            thread_env = none
            """)
        #expect(none.programs[0].processes[0].environment["OMP_NUM_THREADS"] == nil)
        #expect(none.programs[0].processes[0].environment["DROVER_CPUS"] == "1")
        let inherited = try f.load("""
            [program:m]
            command = /bin/true
            """, env: ["OMP_NUM_THREADS": "3"])
        let env = inherited.programs[0].processes[0].environment
        #expect(env["OMP_NUM_THREADS"] == nil)  // drover's own OMP_NUM_THREADS=3 reaches the worker unchanged
        #expect(env["MKL_NUM_THREADS"] == "1")
        // [supervisord] environment is the config's too; the program's own wins over it.
        let global = try f.load("""
            [supervisord]
            environment = OMP_NUM_THREADS="4",MKL_NUM_THREADS="4"
            [program:m]
            command = /bin/true
            environment = MKL_NUM_THREADS="2"
            """)
        let globalEnv = global.programs[0].processes[0].environment
        #expect(globalEnv["OMP_NUM_THREADS"] == "4" && globalEnv["MKL_NUM_THREADS"] == "2")
        #expect(globalEnv["OPENBLAS_NUM_THREADS"] == "1")
    }

    @Test func affinityAndGPUsPerWorker() throws {
        let f = ConfigFixture()
        let machine = MachineShape(usableCPUs: 4, allowedCPUs: [0, 1, 2, 3], numaNodes: [0: [0, 1], 1: [2, 3]],
                                   gpus: ["0", "1"])
        let config = try f.load("""
            [program:m]
            command = /bin/sleep 60 --device %(gpu)s
            numprocs = auto
            process_name = m_%(process_num)d
            cpu_affinity = auto
            gpus = auto
            """, machine: machine)
        let pool = config.programs[0]
        #expect(pool.numprocs == 2)
        #expect(pool.processes.map { $0.slot?.cores } == [[0], [2]])
        #expect(pool.processes.map { $0.slot?.node } == [0, 1])
        #expect(pool.processes.map { $0.environment["CUDA_VISIBLE_DEVICES"] } == ["0", "1"])
        #expect(pool.processes.map { $0.environment["DROVER_GPU"] } == ["0", "1"])
        #expect(pool.processes.map { $0.argv.last } == ["0", "1"])

        let listed = try f.load("""
            [program:m]
            command = /bin/true
            numprocs = auto
            process_name = m_%(process_num)d
            cpu_affinity = 1-3
            gpus = GPU-x
            workers_per_gpu = 3
            """, machine: machine)
        #expect(listed.programs[0].numprocs == 3)
        #expect(listed.programs[0].processes.map { $0.slot?.cores } == [[1], [2], [3]])
        #expect(listed.programs[0].processes.map { $0.slot?.gpu } == ["GPU-x", "GPU-x", "GPU-x"])
    }

    @Test func autoAffinityUnderAQuotaWarnsOnItsLineAndPinsNothing() throws {
        let f = ConfigFixture()
        let shared = MachineShape(usableCPUs: 2, allowedCPUs: Array(0..<8))  // docker run --cpus=2 on 8 cores
        let config = try f.load("""
            [program:m]
            command = /bin/true
            numprocs = auto
            process_name = m_%(process_num)d
            cpu_affinity = auto
            """, machine: shared)
        #expect(config.programs[0].processes.map { $0.slot?.cores } == [[], []])
        let warning = config.warnings.map(\.description).joined(separator: "\n")
        #expect(warning.contains(":5: [program:m] cpu_affinity: not pinning: the CPU quota (2 CPUs) is smaller than the CPUs allowed (0-7)"), "\(warning)")
    }

    @Test func badValuesAreNamed() {
        let f = ConfigFixture()
        let errors = f.errors("""
            [program:m]
            command = /bin/true
            cpus_per_worker = 0
            thread_env = some
            cpu_affinity = 1-x
            gpus = 0,,1
            """).errors.map(\.description).joined(separator: "\n")
        #expect(errors.contains("cpus_per_worker:"))
        #expect(errors.contains("thread_env: 'some' is not auto or none"))
        #expect(errors.contains("cpu_affinity: '1-x' is not auto, none or a CPU list"))
        #expect(errors.contains("gpus: '0,,1' is not auto, none or a list"))
        let outside = f.errors("""
            [program:m]
            command = /bin/true
            cpu_affinity = 2-9
            """).errors.map(\.description).joined()
        #expect(outside.contains("CPU 4-9 is not allowed here (allowed: 0-3)"))
        // %(gpu)s names nothing without gpus.
        let noGPU = f.errors("""
            [program:m]
            command = /bin/true %(gpu)s
            """).errors.map(\.description).joined()
        #expect(noGPU.contains("gpu"))
    }

    @Test func checkPrintsTheSlotTableOnlyForShapedPrograms() throws {
        let f = ConfigFixture()
        let machine = MachineShape(usableCPUs: 4, allowedCPUs: [0, 1, 2, 3], numaNodes: [0: [0, 1], 1: [2, 3]], gpus: ["0"])
        let config = try f.load("""
            [program:m]
            command = /bin/true
            numprocs = auto
            process_name = m_%(process_num)d
            cpus_per_worker = 2
            cpu_affinity = auto
            [program:plain]
            command = /bin/true
            """, machine: machine)
        let text = checkSummary(config)
        #expect(text.contains("""
            slots of m: cpus_per_worker 2, cpu_affinity auto, gpus none, thread_env auto
              slot 0  m:m_0  cpus 2  cores 0-1  node 0  gpu -  threads 2
              slot 1  m:m_1  cpus 2  cores 2-3  node 1  gpu -  threads 2
            machine: 4 usable CPUs, allowed 0-3, NUMA node 0: 0-1, node 1: 2-3, GPUs 0

            """))
        #expect(!text.contains("slots of plain"))
        let unshaped = try f.load("""
            [program:plain]
            command = /bin/true
            """, machine: machine)
        #expect(!checkSummary(unshaped).contains("slot"))
    }

    @Test func cpuListsRoundTrip() {
        #expect(MachineShape.cpuList("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11])
        #expect(MachineShape.cpuList("") == nil && MachineShape.cpuList("3-1") == nil && MachineShape.cpuList("a") == nil)
        #expect(MachineShape.cpuListText([0, 1, 2, 3, 8, 10, 11]) == "0-3,8,10-11")
    }
}
