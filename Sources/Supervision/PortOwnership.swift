import CSystem
import Glibc

/// Who listens on a TCP port, from /proc: the kernel's socket tables
/// (`/proc/net/tcp`, `/proc/net/tcp6`) give the listening socket's inode,
/// and `/proc/PID/fd` links name the processes holding it. drover asks
/// before it spawns a worker on a port (a squatter is named, not raced) and
/// when a worker first passes its probe (an answer from another process's
/// socket proves nothing about the worker). Reads a few small /proc files,
/// and walks /proc/*/fd only when a listener was found; a spawn or a first
/// probe is rare enough for that to run on the reactor. Where /proc is not
/// readable (another user's process, no /proc at all) the answer is
/// "unknown", never a false accusation.
struct PortOwnership {
    /// A process that holds a listening socket on the port.
    struct Holder: Equatable, CustomStringConvertible {
        var pid: pid_t
        /// Its session: a worker's own pid, since each worker runs setsid.
        var session: pid_t
        var command: String

        var description: String { "pid \(pid) (\(command))" }
    }

    var procRoot = "/proc"

    /// The inodes of LISTEN sockets on `port`, any address, IPv4 and IPv6:
    /// asked of the kernel (sock_diag, LISTEN sockets only) on the real
    /// /proc, read from the tables where the kernel will not say or the
    /// root is a test's tree. The tables list every connection: after a
    /// load test, 16k TIME_WAIT rows took 100 ms to read, on the reactor,
    /// twice per worker start (before the spawn and at its first probe).
    func listeningInodes(port: Int) -> [UInt64] {
        if procRoot == "/proc", (1...65535).contains(port) {
            var found = [UInt64](repeating: 0, count: 64)
            let count = found.withUnsafeMutableBufferPointer { cs_tcp_listen_inodes(Int32(port), $0.baseAddress, Int32($0.count)) }
            if count >= 0 { return Array(found.prefix(Int(count))) }
        }
        var inodes: [UInt64] = []
        for table in ["net/tcp", "net/tcp6"] {
            guard let text = Self.readSmallFile(procRoot + "/" + table) else { continue }
            inodes += Self.listeningInodes(inTable: text, port: port)
        }
        return inodes
    }

    /// Parses one /proc/net/tcp{,6} table: rows whose local port is `port`
    /// and whose state is 0A (LISTEN); the inode is the tenth column.
    static func listeningInodes(inTable text: String, port: Int) -> [UInt64] {
        var inodes: [UInt64] = []
        for line in text.split(separator: "\n").dropFirst() {
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count >= 10, columns[3] == "0A" else { continue }
            guard let colon = columns[1].lastIndex(of: ":"),
                  let localPort = Int(columns[1][columns[1].index(after: colon)...], radix: 16),
                  localPort == port, let inode = UInt64(columns[9]), inode != 0 else { continue }
            inodes.append(inode)
        }
        return inodes
    }

    /// The processes holding any of `inodes` (empty when none is visible).
    func holders(of inodes: [UInt64]) -> [Holder] {
        guard !inodes.isEmpty, let proc = opendir(procRoot) else { return [] }
        defer { closedir(proc) }
        let wanted = Set(inodes.map { "socket:[\($0)]" })
        var found: [Holder] = []
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name), pid > 0 else { continue }
            if holdsAny(pid: pid, wanted), let holder = describe(pid: pid) { found.append(holder) }
        }
        return found
    }

    /// Whether `pid` itself holds a listening socket on `port`: the common
    /// case of a worker's first probe, answered from its own descriptors
    /// without walking every process's.
    func holdsListener(pid: pid_t, port: Int) -> Bool {
        let inodes = listeningInodes(port: port)
        guard !inodes.isEmpty else { return false }
        return holdsAny(pid: pid, Set(inodes.map { "socket:[\($0)]" }))
    }

    /// Who listens on `port`: nil when nobody does (or /proc cannot say).
    func listeners(port: Int) -> [Holder]? {
        let inodes = listeningInodes(port: port)
        if inodes.isEmpty { return nil }
        return holders(of: inodes)
    }

    private func holdsAny(pid: pid_t, _ wanted: Set<String>) -> Bool {
        let dirPath = "\(procRoot)/\(pid)/fd"
        guard let dir = opendir(dirPath) else { return false }
        defer { closedir(dir) }
        var target = [CChar](repeating: 0, count: 64)
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.first != "." else { continue }
            let n = readlink(dirPath + "/" + name, &target, target.count - 1)
            guard n > 0 else { continue }
            let link = target.prefix(n).withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) }
            if wanted.contains(link) { return true }
        }
        return false
    }

    private func describe(pid: pid_t) -> Holder? {
        guard let stat = Self.readSmallFile("\(procRoot)/\(pid)/stat"), let session = Self.session(fromStat: stat) else { return nil }
        let raw = Self.readSmallFile("\(procRoot)/\(pid)/cmdline") ?? ""
        var command = raw.split(separator: "\0").joined(separator: " ")
        if command.isEmpty { command = "?" }
        if command.count > 160 { command = String(command.prefix(157)) + "..." }
        return Holder(pid: pid, session: session, command: command)
    }

    /// The session id: the sixth field of /proc/PID/stat, counted after
    /// the command name's closing parenthesis (the name may hold spaces).
    static func session(fromStat stat: String) -> pid_t? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // state, ppid, pgrp, session
        guard fields.count > 3 else { return nil }
        return pid_t(fields[3])
    }

    static func readSmallFile(_ path: String, limit: Int = 1 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while bytes.count < limit {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
