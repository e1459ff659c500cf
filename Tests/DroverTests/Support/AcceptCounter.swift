import Foundation

/// A listening socket the test holds on 127.0.0.1:PORT, counting every
/// connection made to it (each is accepted and closed at once). Bound on a
/// dead worker's port, it proves the proxy never tried that worker again.
final class AcceptCounter: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var count = 0
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    /// Binds (retrying for up to `timeout` while the port's last owner is
    /// still going away); nil if the port never became free.
    init?(port: Int, timeout: Double = 5) {
        self.port = port
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = waitUntil(timeout: timeout) {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
        }
        guard bound, listen(fd, 64) == 0 else {
            Glibc.close(fd)
            return nil
        }
        self.fd = fd
        Thread { [self] in
            while true {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, 20)
                if isStopped { break }
                guard ready > 0 else { continue }
                let client = accept(fd, nil, nil)
                if client >= 0 {
                    Glibc.close(client)
                    lock.lock(); count += 1; lock.unlock()
                }
            }
            done.signal()
        }.start()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    /// Connections accepted so far.
    var accepted: Int { lock.lock(); defer { lock.unlock() }; return count }

    /// Stops accepting and frees the port; the final count.
    @discardableResult
    func close() -> Int {
        lock.lock()
        let wasStopped = stopped
        stopped = true
        lock.unlock()
        if !wasStopped {
            done.wait()
            Glibc.close(fd)
        }
        return accepted
    }

    deinit { close() }
}
