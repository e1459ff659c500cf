import Foundation

/// Hands out blocks of consecutive TCP ports no other test in this process
/// gets, checked free right before use. They come from below the kernel's
/// ephemeral range (32768+), so outgoing connections never take them, and
/// the starting point depends on the pid so two `swift test` runs at once
/// are unlikely to collide. Other tests use fixed ports in 24000–25000 (and
/// 40000+), so this range stays clear of them.
final class TestPorts: @unchecked Sendable {
    static let shared = TestPorts()
    private let lock = NSLock()
    private var next: Int
    private static let first = 26_000, last = 32_000

    private init() {
        next = Self.first + Int(getpid() % 40) * 150
    }

    /// The first of `count` consecutive ports, all bindable on every interface now.
    static func block(_ count: Int) -> Int { shared.take(count) }

    private func take(_ count: Int) -> Int {
        lock.lock(); defer { lock.unlock() }
        for _ in 0..<1000 {
            if next + count > Self.last { next = Self.first }
            let base = next
            next += count
            if (base..<(base + count)).allSatisfy(Self.isFree) { return base }
        }
        fatalError("no block of \(count) free ports")
    }

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = INADDR_ANY
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
