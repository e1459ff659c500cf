import Foundation
import Glibc
import Testing
@testable import Supervision

/// drover's side of a preload socketpair, played by the test: a real
/// `python3 -m drover_preload` template on the other end of a real
/// AF_UNIX socketpair, spoken to with the Swift codec. The template gets its
/// end as stdin with DROVER_PRELOAD_FD=0, as drover hands it over.
final class PreloadTemplatePeer {
    let process = Process()
    let stderr = Pipe()
    private(set) var socket: Int32
    private var decoder = PreloadFrameDecoder()
    /// Worker pids the template reported, killed at `stop()` (they outlive the template by design).
    private(set) var workers: [Int32] = []

    /// Starts `python3 -m drover_preload load serve` with `moduleDirectory` on its path.
    init(load: String, serve: String, moduleDirectory: String) throws {
        var pair: [Int32] = [-1, -1]
        guard Glibc.socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        socket = pair[0]
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "drover_preload", load, serve]
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = Binaries.packageRoot.appendingPathComponent("python").path + ":" + moduleDirectory
        environment["DROVER_PRELOAD_FD"] = "0"
        environment["PYTHONUNBUFFERED"] = "1"
        process.environment = environment
        process.standardInput = FileHandle(fileDescriptor: pair[1], closeOnDealloc: false)
        process.standardError = stderr
        defer { close(pair[1]) }
        try process.run()
    }

    func send(_ message: PreloadMessage) throws {
        let frame = try PreloadFrameEncoder.encode(message)
        let written = frame.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(written == frame.count, "sent \(message)")
    }

    /// The next message, or nil when none is complete within `timeout` seconds or the template closed.
    func receive(timeout: Double = 10) throws -> PreloadMessage? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let message = try decoder.nextMessage() {
                if case .forked(_, let pid) = message { workers.append(pid) }
                return message
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, Int32(left * 1000) + 1) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
            if count <= 0 { return nil }
            decoder.append(chunk[0..<count])
        }
    }

    /// drover closing its end: the template's cue to exit.
    func closeChannel() {
        if socket >= 0 { close(socket) }
        socket = -1
    }

    /// The template's exit status, waiting up to `timeout` seconds (nil if it is still running).
    func waitForExit(timeout: Double = 10) -> Int32? {
        let process = self.process
        guard waitUntil(timeout: timeout, { !process.isRunning }) else { return nil }
        return process.terminationStatus
    }

    /// What the template wrote to stderr so far. Never waits for the end of
    /// the pipe: workers inherit it and may hold it open.
    var stderrText: String {
        let fd = stderr.fileHandleForReading.fileDescriptor
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            text += chunk[0..<count]
        }
        return String(decoding: text, as: UTF8.self)
    }

    func stop() {
        for pid in workers { kill(pid, SIGKILL) }
        closeChannel()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}
