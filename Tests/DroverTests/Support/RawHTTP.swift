import Foundation
import Testing

/// A raw HTTP exchange over a unix or TCP socket, for tests that must send
/// exactly the bytes they mean (garbage, oversized heads, pipelining).
enum RawHTTP {
    struct Reply {
        var status: Int
        var head: String
        var body: String
    }

    static func connectUnix(_ path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if result != 0 { close(fd); return nil }
        setTimeout(fd, seconds: 5)
        return fd
    }

    static func connectTCP(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 { close(fd); return nil }
        setTimeout(fd, seconds: 5)
        return fd
    }

    static func setTimeout(_ fd: Int32, seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Reads until the peer closes (or the timeout): everything it sent.
    static func readAll(_ fd: Int32) -> String {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data.append(contentsOf: buffer[..<n])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// One request on a fresh connection with `Connection: close`.
    static func exchange(unix path: String? = nil, port: Int? = nil, _ request: String) -> Reply? {
        exchange(unix: path, port: port, bytes: Array(request.utf8))
    }

    static func exchange(unix path: String? = nil, port: Int? = nil, bytes: [UInt8]) -> Reply? {
        guard let fd = path.flatMap(connectUnix) ?? port.flatMap(connectTCP) else { return nil }
        defer { close(fd) }
        send(fd, bytes)
        return parse(readAll(fd))
    }

    static func parse(_ text: String) -> Reply? {
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let head = String(text[..<split.lowerBound])
        let parts = head.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        var body = String(text[split.upperBound...])
        if head.lowercased().contains("transfer-encoding: chunked") { body = dechunk(body) }
        return Reply(status: status, head: head, body: body)
    }

    static func dechunk(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let line = rest.range(of: "\r\n") {
            guard let size = Int(rest[..<line.lowerBound].split(separator: ";").first ?? "", radix: 16), size > 0 else { break }
            let start = line.upperBound
            let utf8 = rest.utf8
            guard let end = utf8.index(start, offsetBy: size, limitedBy: utf8.endIndex) else { break }
            out += String(rest[start..<end])
            rest = rest[end...].dropFirst(2)
        }
        return out
    }

    static func get(unix path: String? = nil, port: Int? = nil, _ target: String, headers: [String] = []) -> Reply? {
        exchange(unix: path, port: port, "GET \(target) HTTP/1.1\r\nHost: t\r\n" + headers.map { $0 + "\r\n" }.joined() + "Connection: close\r\n\r\n")
    }

    static func post(unix path: String? = nil, port: Int? = nil, _ target: String, body: String = "", headers: [String] = []) -> Reply? {
        exchange(unix: path, port: port, "POST \(target) HTTP/1.1\r\nHost: t\r\n" + headers.map { $0 + "\r\n" }.joined()
                 + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
    }

    static func json(_ reply: Reply?) -> [String: Any]? {
        guard let reply, let data = reply.body.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}

/// A daemon with its control socket, driven through the real CLI.
final class ControlledDrover {
    let dir: TempDir
    let drover: DroverHarness
    let socket: String

    /// `files` are written into the directory before drover starts (`%(here)s/NAME`).
    init(_ config: String, label: String = "ctl", files: [String: String] = [:]) throws {
        dir = TempDir(label)
        for (name, text) in files { _ = dir.write(name, text) }
        socket = dir.file("drover.sock")
        drover = try DroverHarness(config: "[unix_http_server]\nfile = %(here)s/drover.sock\n\n" + config, in: dir)
        let path = socket
        #expect(waitUntil { FileManager.default.fileExists(atPath: path) }, "control socket appears")
    }

    /// Runs `drover ARGS -s SOCKET`.
    @discardableResult
    func cli(_ arguments: String..., timeout: Double = 30) throws -> ProcessResult {
        try runCommand(Binaries.drover, arguments + ["-s", socket], timeout: timeout)
    }

    func status() -> [[String: Any]] {
        (RawHTTP.json(RawHTTP.get(unix: socket, "/v1/status"))?["processes"] as? [[String: Any]]) ?? []
    }

    func pids(_ prefix: String) -> [Int] {
        status().filter { ($0["name"] as? String)?.hasPrefix(prefix) == true }.compactMap { $0["pid"] as? Int }
    }

    deinit {
        drover.terminate()
        dir.cleanup()
    }
}
