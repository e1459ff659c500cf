import Glibc
import System

/// Where a worker's output goes once read from its pipe.
package enum OutputSink {
    case file(RotatingLogFile)
    /// /dev/stdout or /dev/stderr: drover's own, shared, non-blocking writer.
    case console(ConsoleWriter)

    func write(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .file(let file): file.write(bytes)
        case .console(let writer): writer.write(bytes)
        }
    }
}

/// One output stream (stdout or stderr) of one worker, across its restarts:
/// the ring buffer for `tail`, the log file, and the mirror to drover's
/// stdout with a `name | ` prefix on every line.
package final class OutputCapture {
    package private(set) var ring: ByteRing
    package var sink: OutputSink?
    private let mirror: ConsoleWriter?
    private let prefix: [UInt8]
    /// A partial line waiting for its newline, so mirrored lines from
    /// different workers do not interleave mid-line.
    private var partialLine: [UInt8] = []
    private var readers: [PipeReader] = []
    /// `tail -f` followers, each given every chunk as it is read.
    private var followers: [(id: Int, send: ([UInt8]) -> Void)] = []
    private var nextFollower = 0

    package init(ringCapacity: Int, sink: OutputSink?, mirror: ConsoleWriter?, prefix: String) {
        ring = ByteRing(capacity: ringCapacity)
        self.sink = sink
        self.mirror = mirror
        self.prefix = Array(prefix.utf8)
    }

    /// Starts reading a new pipe (after each spawn). An older pipe keeps
    /// being read until EOF: grandchildren may still hold its write end.
    /// Takes the read end over: on failure it is closed with the reader.
    package func attach(_ readEnd: consuming OwnedDescriptor, reactor: Reactor) throws(SystemError) {
        let reader = PipeReader(fd: readEnd, reactor: reactor)
        reader.onData = { [unowned self] bytes in self.consume(bytes) }
        reader.onClose = { [unowned self, unowned reader] in
            self.readers.removeAll { $0 === reader }
            self.flushPartialLine()
        }
        try reader.start()
        readers.append(reader)
    }

    /// Reads what the pipes hold right now, without waiting: a worker's
    /// last words may still sit in its pipe when its SIGCHLD is handled.
    package func readPending() {
        for reader in readers { reader.readAvailable() }
    }

    /// Bytes written so far, to mark where a run of the worker began.
    package var mark: UInt64 { ring.totalWritten }

    /// The last `lines` non-empty lines written since `mark`, as text to
    /// quote in a log line: control characters dropped, at most `maxBytes`.
    package func lastLines(_ lines: Int, since mark: UInt64, maxBytes: Int = 400) -> [String] {
        let written = ring.totalWritten &- mark
        guard written > 0 else { return [] }
        let all = ring.contents
        let recent = all.suffix(Int(min(UInt64(all.count), written)))
        var result: [String] = []
        var budget = maxBytes
        for raw in recent.split(separator: UInt8(ascii: "\n")).reversed() {
            let cleaned = raw.filter { $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }
            let text = String(decoding: cleaned, as: UTF8.self).trimmingWhitespace()
            if text.isEmpty { continue }
            let clipped = text.utf8.count > budget ? String(decoding: Array(text.utf8.prefix(max(0, budget))), as: UTF8.self) + "…" : text
            result.insert(clipped, at: 0)
            budget -= clipped.utf8.count
            if result.count == lines || budget <= 0 { break }
        }
        return result
    }

    func consume(_ bytes: UnsafeRawBufferPointer) {
        ring.append(bytes)
        sink?.write(bytes)
        if !followers.isEmpty {
            let chunk = Array(bytes)
            for follower in followers { follower.send(chunk) }
        }
        if mirror != nil { mirrorLines(bytes) }
    }

    private func mirrorLines(_ bytes: UnsafeRawBufferPointer) {
        guard let mirror else { return }
        var lineStart = 0
        for index in 0..<bytes.count where bytes[index] == UInt8(ascii: "\n") {
            var line = prefix
            line.append(contentsOf: partialLine)
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart...index]))
            partialLine.removeAll(keepingCapacity: true)
            line.withUnsafeBytes { mirror.write($0) }
            lineStart = index + 1
        }
        if lineStart < bytes.count {
            partialLine.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart...]))
            if partialLine.count >= 4096 { flushPartialLine() }
        }
    }

    private func flushPartialLine() {
        guard let mirror, !partialLine.isEmpty else { return }
        var line = prefix
        line.append(contentsOf: partialLine)
        line.append(UInt8(ascii: "\n"))
        partialLine.removeAll(keepingCapacity: true)
        line.withUnsafeBytes { mirror.write($0) }
    }

    package func addFollower(_ send: @escaping ([UInt8]) -> Void) -> Int {
        nextFollower += 1
        followers.append((nextFollower, send))
        return nextFollower
    }

    package func removeFollower(_ id: Int) {
        followers.removeAll { $0.id == id }
    }

    package func reopen() {
        if case .file(let file) = sink { file.reopen() }
    }

    /// Stops reading every pipe (the process was removed for good).
    package func close() {
        for reader in readers { reader.close() }
        readers.removeAll()
        if case .file(let file) = sink { file.close() }
    }
}

/// Reads a non-blocking pipe on the reactor until EOF. It owns the read
/// end: closed on EOF, on close(), or when the reader goes away unstarted.
final class PipeReader {
    private var owned: OwnedDescriptor?
    private let fd: FileDescriptor
    private unowned let reactor: Reactor
    var onData: ((UnsafeRawBufferPointer) -> Void)?
    var onClose: (() -> Void)?
    private var closed = false

    init(fd: consuming OwnedDescriptor, reactor: Reactor) {
        self.fd = fd.borrowed
        self.owned = consume fd
        self.reactor = reactor
    }

    func start() throws(SystemError) {
        try reactor.register(fd, events: Reactor.readable) { [unowned self] _ in self.readAvailable() }
    }

    func readAvailable() {
        guard !closed else { return }
        // A bounded amount per wake-up: a worker writing flat out cannot
        // keep the reactor from everything else (epoll is level-triggered,
        // so the rest is read on the next turn).
        withUnsafeTemporaryAllocation(byteCount: 65536, alignment: 1) { buffer in
            for _ in 0..<4 {
                let result: FileDescriptor.ReadResult
                do { result = try fd.read(into: buffer) } catch { close(); return }
                switch result {
                case .bytes(let n): onData?(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
                case .wouldBlock: return
                case .endOfFile: close(); return
                }
            }
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        reactor.unregister(fd)
        owned.take()?.close()
        // onClose drops the owner's reference to us; stay alive until it returns.
        withExtendedLifetime(self) { onClose?() }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs (no Foundation here).
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
