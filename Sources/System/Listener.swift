import CSystem
import Glibc

/// Listening sockets for the reactor: the control socket (unix) and the
/// admin and proxy listeners (TCP). All non-blocking and close-on-exec,
/// each owned (move-only) by whoever made it; on any error on the way the
/// half-made socket is closed as it goes out of scope.
package enum Listener {
    /// An IPv4 or IPv6 socket address and its length.
    package struct TCPAddress {
        package var storage = sockaddr_storage()
        package var length: socklen_t = 0

        package var isIPv6: Bool { storage.ss_family == sa_family_t(AF_INET6) }
    }

    /// A unix socket at `path` with `mode`, set before it listens so there is
    /// no moment where it is reachable with looser permissions. A stale
    /// socket (nobody accepting) is replaced; any other file there, or a
    /// socket another process still serves, is an error.
    package static func unix(path: String, mode: UInt32) throws(SystemError) -> OwnedDescriptor {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw SystemError("bind", errno: EEXIST, context: "\(path) (a file that is not a socket is in the way)")
            }
            if isServed(path) {
                throw SystemError("bind", errno: EADDRINUSE, context: "\(path) (another process is serving it)")
            }
            unlink(path)
        }
        var address = try unixAddress(path)
        let fd = try socket(domain: AF_UNIX)
        let raw = fd.rawValue
        // bind creates the file with 0777 & ~umask: narrow the umask to the
        // wanted mode for that moment, then make the mode exact.
        let previous = umask(mode_t(~mode & 0o777))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(raw, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        let bindErrno = cs_errno()
        umask(previous)
        if bound != 0 { throw SystemError("bind", errno: bindErrno, context: path) }
        if chmod(path, mode_t(mode)) != 0 { throw SystemError("chmod", context: path) }
        try listen(fd, backlog: 1024, context: path)
        return fd
    }

    /// Whether a process accepts connections on the unix socket at `path`.
    static func isServed(_ path: String) -> Bool {
        guard var address = try? unixAddress(path) else { return false }
        let fd: OwnedDescriptor
        do throws(SystemError) { fd = try socket(domain: AF_UNIX) } catch { return false }
        let raw = fd.rawValue
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(raw, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        // Non-blocking: EAGAIN means a full backlog, which is still someone serving.
        return result == 0 || cs_errno() == EAGAIN || cs_errno() == EINPROGRESS
    }

    /// The sockaddr of a unix socket path (at most 107 bytes on Linux).
    package static func unixAddress(_ path: String) throws(SystemError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !path.isEmpty, path.utf8.count < capacity else {
            throw SystemError("bind", errno: ENAMETOOLONG, context: "\(path) (unix socket paths are limited to \(capacity - 1) bytes)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        return address
    }

    /// The socket address of a TCP listener: an IPv4 or IPv6 literal
    /// (`0.0.0.0`, `::`), or `localhost` (127.0.0.1): drover resolves no
    /// names (no NSS in a static binary).
    package static func tcpAddress(host: String, port: Int) throws(SystemError) -> TCPAddress {
        guard (0...65535).contains(port) else {
            throw SystemError("bind", errno: EINVAL, context: "\(host):\(port) (not a port number 0-65535)")
        }
        var address = TCPAddress()
        let numeric = host == "localhost" ? "127.0.0.1" : host
        let network = in_port_t(UInt16(port).bigEndian)
        let found = withUnsafeMutablePointer(to: &address.storage) { storage -> Bool in
            if storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1, { v4 in
                guard inet_pton(AF_INET, numeric, &v4.pointee.sin_addr) == 1 else { return false }
                v4.pointee.sin_family = sa_family_t(AF_INET)
                v4.pointee.sin_port = network
                return true
            }) {
                address.length = socklen_t(MemoryLayout<sockaddr_in>.size)
                return true
            }
            return storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                guard inet_pton(AF_INET6, numeric, &v6.pointee.sin6_addr) == 1 else { return false }
                v6.pointee.sin6_family = sa_family_t(AF_INET6)
                v6.pointee.sin6_port = network
                address.length = socklen_t(MemoryLayout<sockaddr_in6>.size)
                return true
            }
        }
        guard found else {
            throw SystemError("bind", errno: EINVAL, context: "\(host):\(port) (not an IPv4 or IPv6 address, nor localhost)")
        }
        return address
    }

    /// A TCP listener on `host` (see tcpAddress) and port.
    package static func tcp(host: String, port: Int, backlog: Int32 = 1024) throws(SystemError) -> OwnedDescriptor {
        var address = try tcpAddress(host: host, port: port)
        let fd = try socket(domain: Int32(address.storage.ss_family))
        var one: Int32 = 1
        setsockopt(fd.rawValue, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let length = address.length, raw = fd.rawValue
        let bound = withUnsafePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(raw, $0, length) }
        }
        if bound != 0 { throw SystemError("bind", context: "\(host):\(port)") }
        try listen(fd, backlog: backlog, context: "\(host):\(port)")
        return fd
    }

    /// The port a TCP listener got (for port 0).
    package static func localPort(_ fd: borrowing OwnedDescriptor) -> Int? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd.rawValue, $0, &length) }
        }
        return result == 0 ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }

    private static func socket(domain: Int32) throws(SystemError) -> OwnedDescriptor {
        let raw = Glibc.socket(domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if raw < 0 { throw SystemError("socket") }
        return OwnedDescriptor(adopting: raw)
    }

    private static func listen(_ fd: borrowing OwnedDescriptor, backlog: Int32, context: String) throws(SystemError) {
        if Glibc.listen(fd.rawValue, backlog) != 0 { throw SystemError("listen", context: context) }
    }
}
