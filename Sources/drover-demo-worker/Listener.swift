// Opening the listening socket: IPv4, SO_REUSEADDR (so a restarted worker
// can rebind while old connections sit in TIME_WAIT), non-blocking for the
// accept loop, close-on-exec.

import CSystem
import Glibc

enum ListenResult {
    case success(fd: Int32, port: Int)
    case failure(String)
}

func openListener(host: String, port: Int) -> ListenResult {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    let literal = host == "localhost" ? "127.0.0.1" : host
    guard inet_pton(AF_INET, literal, &address.sin_addr) == 1 else {
        return .failure("--host must be an IPv4 address, got \(host)")
    }
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return .failure("socket() failed: errno \(errno)") }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard bound == 0 else {
        let err = errno
        _ = close(fd)
        if err == EADDRINUSE { return .failure("port \(port) on \(host) is already in use") }
        return .failure("cannot bind \(host):\(port): errno \(err)")
    }
    guard listen(fd, 1024) == 0 else {
        let err = errno
        _ = close(fd)
        return .failure("listen() failed: errno \(err)")
    }
    _ = cs_set_nonblocking(fd, 1)
    var actual = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &actual) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return .success(fd: fd, port: Int(UInt16(bigEndian: actual.sin_port)))
}
