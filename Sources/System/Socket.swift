import CSystem
import Glibc

/// Non-blocking TCP sockets on the reactor.
package enum TCPSocket {
    package enum ConnectProgress {
        case connected(FileDescriptor)
        case inProgress(FileDescriptor)
    }

    /// Starts a non-blocking connect to an IPv4 address (health probes and,
    /// later, the proxy's upstream connections all go to 127.0.0.1).
    package static func connect(host: String = "127.0.0.1", port: Int) throws(SystemError) -> ConnectProgress {
        let raw = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if raw < 0 { throw SystemError("socket") }
        let fd = FileDescriptor(rawValue: raw)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            fd.close()
            throw SystemError("inet_pton", errno: EINVAL, context: host)
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(raw, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result == 0 { return .connected(fd) }
        let code = cs_errno()
        if code == EINPROGRESS || code == EINTR { return .inProgress(fd) }
        fd.close()
        throw SystemError("connect", errno: code, context: "\(host):\(port)")
    }

    /// The outcome of a finished non-blocking connect (0 on success).
    package static func pendingError(_ fd: FileDescriptor) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd.rawValue, SOL_SOCKET, SO_ERROR, &code, &length) != 0 { return cs_errno() }
        return code
    }
}
