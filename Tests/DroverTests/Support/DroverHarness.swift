import Foundation
import Testing

/// A real `drover` process under test: its stdout/stderr collected line by
/// line so tests can wait for the events it logs.
final class DroverHarness: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var lines: [String] = []
    private var stderrText = ""
    private let readers = DispatchGroup()

    init(arguments: [String], directory: String? = nil, environment: [String: String]? = nil,
         executable: String = Binaries.drover) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        collect(out.fileHandleForReading, isStderr: false)
        collect(err.fileHandleForReading, isStderr: true)
    }

    /// `drover run -c FILE` in the file's directory.
    convenience init(config: String, in dir: TempDir, extraArguments: [String] = []) throws {
        let path = dir.write("supervisor.conf", config)
        try self.init(arguments: ["run", "-c", path] + extraArguments, directory: dir.path)
    }

    private func collect(_ handle: FileHandle, isStderr: Bool) {
        readers.enter()
        let thread = Thread { [self] in
            var partial = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                partial.append(chunk)
                while let newline = partial.firstIndex(of: 0x0A) {
                    let line = String(decoding: partial[partial.startIndex..<newline], as: UTF8.self)
                    partial.removeSubrange(partial.startIndex...newline)
                    lock.lock()
                    lines.append(line)
                    if isStderr { stderrText += line + "\n" }
                    lock.unlock()
                }
            }
            if !partial.isEmpty {
                lock.lock()
                lines.append(String(decoding: partial, as: UTF8.self))
                lock.unlock()
            }
            readers.leave()
        }
        thread.start()
    }

    var output: [String] {
        lock.lock(); defer { lock.unlock() }
        return lines
    }

    var transcript: String { output.joined(separator: "\n") }

    var pid: Int32 { process.processIdentifier }

    /// Waits for the `occurrence`-th line containing every one of `fragments`.
    @discardableResult
    func waitForLine(_ fragments: String..., occurrence: Int = 1, timeout: Double = 10,
                     sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let matches = output.filter { line in fragments.allSatisfy { line.contains($0) } }
            if matches.count >= occurrence { return matches[occurrence - 1] }
            if !process.isRunning && readersDone { break }
            usleep(10_000)
        }
        let matches = output.filter { line in fragments.allSatisfy { line.contains($0) } }
        if matches.count >= occurrence { return matches[occurrence - 1] }
        Issue.record("no line with \(fragments) (#\(occurrence)) within \(timeout)s; drover said:\n\(transcript)",
                     sourceLocation: sourceLocation)
        return nil
    }

    func lines(containing fragments: String...) -> [String] {
        output.filter { line in fragments.allSatisfy { line.contains($0) } }
    }

    private var readersDone: Bool { readers.wait(timeout: .now()) == .success }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for drover to exit; returns its status (SIGKILLs it after the timeout).
    @discardableResult
    func waitForExit(timeout: Double = 15, sourceLocation: SourceLocation = #_sourceLocation) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            Issue.record("drover did not exit within \(timeout)s:\n\(transcript)", sourceLocation: sourceLocation)
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        _ = readers.wait(timeout: .now() + 5)
        return process.terminationStatus
    }

    /// Stops drover (SIGTERM, then SIGKILL) if a test left it running.
    func terminate() {
        if process.isRunning {
            signal(SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
    }

    deinit { terminate() }
}

/// drover log lines start with an ISO-8601 UTC timestamp; returns it in seconds.
func logTime(_ line: String) -> Double? {
    // 2026-11-23T09:12:42.889Z
    guard line.count >= 24 else { return nil }
    let stamp = line.prefix(24)
    let parts = stamp.split(whereSeparator: { "T:Z".contains($0) })
    guard parts.count >= 4, let h = Double(parts[1]), let m = Double(parts[2]), let s = Double(parts[3]) else { return nil }
    return h * 3600 + m * 60 + s
}

/// `pid 1234` inside a log line.
func pidIn(_ line: String?) -> Int32? {
    guard let line, let range = line.range(of: "pid ") else { return nil }
    return Int32(line[range.upperBound...].prefix { $0.isNumber })
}

func processExists(_ pid: Int32) -> Bool {
    // A zombie still "exists" for kill(); /proc/PID/stat state Z is not alive.
    guard kill(pid, 0) == 0 else { return false }
    if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
       let close = stat.lastIndex(of: ")") {
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z"
    }
    return false
}

func isZombie(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(close, offsetBy: 2)] == "Z"
}

func waitUntil(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
