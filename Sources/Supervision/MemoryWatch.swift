import Glibc
import System

/// `max_memory`: every few seconds, sums the RSS of each worker's process
/// group (the worker and everything it started) from /proc and recycles a
/// worker past its limit. Runs only while some program sets max_memory, so
/// an idle drover without it still never wakes.
package final class MemoryWatch {
    static let interval: Duration = .seconds(5)
    private unowned let supervisor: Supervisor
    private var timer: TimerID?

    init(supervisor: Supervisor) {
        self.supervisor = supervisor
    }

    func update() {
        let needed = supervisor.processes.contains { $0.spec.maxMemory > 0 }
        if needed && timer == nil {
            schedule()
        } else if !needed, let timer {
            supervisor.reactor.cancel(timer)
            self.timer = nil
        }
    }

    private func schedule() {
        timer = supervisor.reactor.schedule(after: Self.interval) { [unowned self] in
            self.timer = nil
            self.check()
            self.update()
        }
    }

    private func check() {
        let watched = supervisor.processes.filter { $0.spec.maxMemory > 0 && $0.state == .running && $0.pid > 0 }
        guard !watched.isEmpty else { return }
        let usage = Self.rssByProcessGroup()
        for process in watched {
            // A preloaded worker shares its model with the template: judge only its own pages.
            let privateBytes = process.spec.preload ? PrivateMemory.bytes(ofProcessGroup: process.pid) : nil
            let bytes = privateBytes ?? usage[process.pid] ?? 0
            let measure = privateBytes == nil ? "RSS" : "private memory"
            if bytes > process.spec.maxMemory {
                supervisor.recycle(process, reason: "\(measure) \(bytes / 1_048_576) MiB of its process group is over max_memory \(process.spec.maxMemory / 1_048_576) MiB")
            }
        }
    }

    /// RSS in bytes per process group id, from /proc/PID/stat (field 5 is
    /// the pgrp, field 24 the RSS in pages).
    package static func rssByProcessGroup() -> [pid_t: Int] {
        var result: [pid_t: Int] = [:]
        guard let dir = opendir("/proc") else { return result }
        defer { closedir(dir) }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var buffer = [UInt8](repeating: 0, count: 1024)
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard let first = name.utf8.first, first >= 48, first <= 57 else { continue }
            let fd = open("/proc/\(name)/stat", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            let n = read(fd, &buffer, buffer.count)
            close(fd)
            guard n > 0, let close = buffer[..<n].lastIndex(of: UInt8(ascii: ")")) else { continue }
            let fields = buffer[(close + 2)..<n].split(separator: UInt8(ascii: " "))
            // After "pid (comm) ": state=0 ppid=1 pgrp=2 … rss=21
            guard fields.count > 21, let pgrp = Int32(String(decoding: fields[2], as: UTF8.self)),
                  let pages = Int(String(decoding: fields[21], as: UTF8.self)) else { continue }
            result[pgrp, default: 0] += pages * pageSize
        }
        return result
    }
}
