import CSystem
import Config
import Glibc
import System

/// `[fcgi-program:x]` (SPEC §3): the socket of each such program, bound by
/// drover at the first spawn and kept while the program exists with the
/// same `socket`, so every process of the pool (and every restart) accepts
/// on the same listening socket as its fd 0, as under supervisord.
final class FcgiSockets {
    private var bound: [String: (socket: FcgiSocket, fd: Int32)] = [:]

    /// A close-on-exec duplicate of `program`'s socket for a child's fd 0,
    /// owned by the caller (closed after the spawn, or on any error path);
    /// binds it first if needed.
    func descriptor(for program: String, _ socket: FcgiSocket) throws(SystemError) -> OwnedDescriptor {
        if let current = bound[program], current.socket != socket {
            release(program)
        }
        if bound[program] == nil {
            bound[program] = (socket, try Self.bind(socket))
        }
        let dup = fcntl(bound[program]!.fd, F_DUPFD_CLOEXEC, 0)
        if dup < 0 { throw SystemError("dup", context: socket.description) }
        return OwnedDescriptor(adopting: dup)
    }

    /// Closes the sockets of programs that are gone or no longer fcgi
    /// (after a reload), so their address is free again.
    func prune(keeping programs: [String: ProgramConfig]) {
        for name in bound.keys where programs[name]?.processes.first?.fcgiSocket == nil {
            release(name)
        }
    }

    func release(_ program: String) {
        guard let entry = bound.removeValue(forKey: program) else { return }
        Glibc.close(entry.fd)
        if case .unix(let path) = entry.socket.address { unlink(path) }
    }

    deinit {
        for name in Array(bound.keys) { release(name) }
    }

    /// A blocking listening socket (workers call accept() on fd 0 and expect
    /// to wait), close-on-exec in drover.
    static func bind(_ socket: FcgiSocket) throws(SystemError) -> Int32 {
        switch socket.address {
        case .tcp(let host, let port):
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
                throw SystemError("bind", errno: EINVAL, context: "\(socket) (not an IPv4 address)")
            }
            let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { throw SystemError("socket", context: socket.description) }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            return try listen(fd, rc, socket)
        case .unix(let path):
            var info = stat()
            if lstat(path, &info) == 0 {
                // Only a socket is replaced (a stale one from a previous run).
                guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                    throw SystemError("bind", errno: EEXIST, context: "\(path) (a file that is not a socket is in the way)")
                }
                unlink(path)
            }
            var address = try Listener.unixAddress(path)
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { throw SystemError("socket", context: socket.description) }
            // Created with the wanted mode, never looser for a moment.
            let previous = umask(mode_t(~socket.mode & 0o777))
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            let bindErrno = cs_errno()
            umask(previous)
            if rc != 0 {
                Glibc.close(fd)
                throw SystemError("bind", errno: bindErrno, context: socket.description)
            }
            if chmod(path, mode_t(socket.mode)) != 0 || (socket.owner.map { chown(path, $0.uid, $0.gid) } ?? 0) != 0 {
                let error = SystemError("chmod/chown", context: path)
                Glibc.close(fd)
                unlink(path)
                throw error
            }
            return try listen(fd, 0, socket)
        }
    }

    private static func listen(_ fd: Int32, _ bindResult: Int32, _ socket: FcgiSocket) throws(SystemError) -> Int32 {
        if bindResult != 0 || Glibc.listen(fd, Int32(clamping: socket.backlog)) != 0 {
            let error = SystemError(bindResult != 0 ? "bind" : "listen", context: socket.description)
            Glibc.close(fd)
            throw error
        }
        return fd
    }
}

extension Supervisor {
    /// A worker's fd 0: its fcgi-program's socket, else /dev/null; owned by
    /// the spawn that asked for it.
    func standardInput(for spec: ProcessSpec) throws(SystemError) -> OwnedDescriptor {
        guard let socket = spec.fcgiSocket else { return try Self.emptyInput() }
        fcgiSockets.prune(keeping: programs)
        return try fcgiSockets.descriptor(for: spec.programName, socket)
    }

    /// /dev/null; in a root filesystem without /dev (a bare container
    /// image), the read end of a pipe whose write end is already closed:
    /// reads see end of file all the same.
    static func emptyInput() throws(SystemError) -> OwnedDescriptor {
        do throws(SystemError) {
            return try OwnedDescriptor.open("/dev/null", O_RDONLY)
        } catch {
            guard error.errno == ENOENT || error.errno == EACCES else {
                throw SystemError("open", errno: error.errno, context: "/dev/null (a worker's stdin)")
            }
            return try PipePair(nonblockingRead: false).closingWriteEnd()
        }
    }
}
