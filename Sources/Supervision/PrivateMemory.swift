import Glibc

/// Memory a process does not share with any other: the Private_Clean and
/// Private_Dirty pages of /proc/PID/smaps_rollup. A worker forked from a
/// preload template shares the model's pages with the template and its
/// siblings copy-on-write; its RSS counts them all, its private memory only
/// what it wrote or allocated itself, which is what `max_memory` must judge
/// (a recycle frees the private pages, never the shared model).
package enum PrivateMemory {
    /// Private bytes of one process; nil when /proc does not say (gone, or a kernel before 4.14).
    package static func bytes(ofProcess pid: pid_t) -> Int? {
        guard let text = readSmall("/proc/\(pid)/smaps_rollup") else { return nil }
        var kilobytes = 0
        var found = false
        for line in text.split(separator: "\n") where line.hasPrefix("Private_Clean:") || line.hasPrefix("Private_Dirty:") {
            let number = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first
            guard let number, let value = Int(number) else { return nil }
            kilobytes += value
            found = true
        }
        return found ? kilobytes * 1024 : nil
    }

    /// Private bytes summed over every process in group `pgid` (a worker and
    /// what it started); nil when none of them could be read.
    package static func bytes(ofProcessGroup pgid: pid_t) -> Int? {
        guard let dir = opendir("/proc") else { return nil }
        defer { closedir(dir) }
        var total: Int?
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard let pid = pid_t(name), getpgid(pid) == pgid, let bytes = bytes(ofProcess: pid) else { continue }
            total = (total ?? 0) + bytes
        }
        return total
    }

    /// A /proc file of a few KiB, read whole.
    private static func readSmall(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 64 * 1024 {
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }
}
