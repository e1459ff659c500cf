import CSystem
import Glibc
import System

/// drover's end of one template's socketpair (docs/preload-protocol.md), on
/// the reactor thread: it sends `fork` requests without ever blocking and
/// turns what the template says into events. The template gets the other
/// end as its stdin with DROVER_PRELOAD_FD=0 (`templateEnvironment`), so the
/// spawner needs no extra descriptor; drover_preload.py moves it off fd 0.
package final class PreloadChannel {
    package enum Event: Equatable {
        /// The template loaded its model and can fork (its `hello`).
        case ready(pid: Int32, runtime: String)
        case forked(slot: UInt32, pid: Int32)
        case exited(pid: Int32, status: ExitStatus)
        /// The template could not do something (`error`); slot nil: about the template itself.
        case failed(slot: UInt32?, message: String)
        /// The channel is gone: the template closed it (nil) or broke the protocol (why).
        /// Nothing more comes; workers it forked are reaped by drover as subreaper.
        case closed(reason: String?)
    }

    /// What the template's environment needs beside the program's own.
    package static let templateEnvironment = "DROVER_PRELOAD_FD=0"

    private let reactor: Reactor
    private let onEvent: (Event) -> Void
    private var socket: FileDescriptor?
    /// The template's end until `templateStarted()`: hand it to the spawn as stdin.
    package private(set) var templateEnd: FileDescriptor?
    private var decoder = PreloadFrameDecoder()
    /// A frame the socket did not take yet, with the descriptors that must
    /// travel with its first byte (SCM_RIGHTS); the channel owns them until sent.
    private struct Outgoing {
        var bytes: [UInt8]
        var descriptors: [FileDescriptor]
    }
    /// Frames waiting for the socket (a template busy forking).
    private var outbox: [Outgoing] = []
    private var readBuffer = [UInt8](repeating: 0, count: 16 * 1024)
    /// Set by `hello`: before it, a template may only say `error`.
    package private(set) var templatePid: Int32?

    /// A connected socketpair with drover's end on `reactor`. Both ends are
    /// close-on-exec so no other child inherits them; the spawn's dup2 onto
    /// fd 0 clears the flag for the template alone.
    package init(reactor: Reactor, onEvent: @escaping (Event) -> Void) throws(SystemError) {
        var pair: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if Glibc.socketpair(AF_UNIX, type, 0, &pair) != 0 { throw SystemError("socketpair") }
        let mine = FileDescriptor(rawValue: pair[0])
        self.reactor = reactor
        self.onEvent = onEvent
        socket = mine
        templateEnd = FileDescriptor(rawValue: pair[1])
        do throws(SystemError) {
            try mine.setNonblocking()
            try reactor.register(mine, events: Reactor.readable) { [unowned self] events in self.handle(events) }
        } catch {
            mine.close()
            templateEnd?.close()
            socket = nil
            templateEnd = nil
            throw error
        }
    }

    deinit {
        if let socket { reactor.unregister(socket); socket.close() }
        templateEnd?.close()
        for outgoing in outbox { for descriptor in outgoing.descriptors { descriptor.close() } }
    }

    /// The template has its copy of the other end: drover's copy goes, so
    /// drover sees end-of-file when the template dies.
    package func templateStarted() {
        templateEnd?.close()
        templateEnd = nil
    }

    package var isOpen: Bool { socket != nil }

    /// Queues a `fork` for `slot`; the answer comes as `.forked` or `.failed`.
    /// `output` (stdout's write end, then stderr's when separate) travels
    /// with the frame; the channel takes them over and closes its copies
    /// once sent, or when the request cannot be made.
    package func requestFork(slot: UInt32, port: UInt16, cpus: [Int] = [], output: [FileDescriptor] = [],
                             environment: [PreloadEnvironmentEntry]) throws(PreloadProtocolError) {
        let frame: [UInt8]
        do throws(PreloadProtocolError) {
            if cpus.contains(where: { $0 < 0 || $0 > Int(UInt16.max) }) {
                throw .invalidField(kind: "fork", field: "cpus", reason: "has a CPU number outside 0-65535")
            }
            frame = try PreloadFrameEncoder.encode(.fork(slot: slot, port: port, cpus: cpus.map { UInt16($0) },
                                                         streams: UInt8(clamping: output.count), environment: environment))
        } catch {
            for descriptor in output { descriptor.close() }
            throw error
        }
        guard socket != nil else {
            for descriptor in output { descriptor.close() }
            return
        }
        outbox.append(Outgoing(bytes: frame, descriptors: output))
        flush()
    }

    /// drover closing its end: the template's cue to exit. No `.closed` event follows.
    package func close() {
        guard let socket else { return }
        reactor.unregister(socket)
        socket.close()
        self.socket = nil
        for outgoing in outbox { for descriptor in outgoing.descriptors { descriptor.close() } }
        outbox = []
    }

    private func handle(_ events: UInt32) {
        if events & Reactor.writable != 0 { flush() }
        if events & (Reactor.readable | Reactor.hangup) != 0 { receive() }
    }

    private func flush() {
        guard let socket else { return }
        while let next = outbox.first {
            let sent: Int
            if next.descriptors.isEmpty {
                sent = next.bytes.withUnsafeBytes { Glibc.send(socket.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            } else {
                let numbers = next.descriptors.map(\.rawValue)
                sent = next.bytes.withUnsafeBytes { bytes in
                    numbers.withUnsafeBufferPointer { fds in
                        Int(cs_send_with_fds(socket.rawValue, bytes.baseAddress, UInt(bytes.count), fds.baseAddress, Int32(fds.count)))
                    }
                }
            }
            if sent > 0 {
                // The descriptors went with the first byte: the template has its copies.
                for descriptor in next.descriptors { descriptor.close() }
                outbox[0].descriptors = []
                if sent == next.bytes.count { outbox.removeFirst() } else { outbox[0].bytes.removeFirst(sent) }
                continue
            }
            let code = cs_errno()
            if sent < 0 && code == EINTR { continue }
            if sent < 0 && (code == EAGAIN || code == EWOULDBLOCK) { break }
            return fail("cannot write to the template: \(SystemError("send", errno: code))")
        }
        // Ask for writability only while something waits, so an idle channel costs no wake-ups.
        let events = outbox.isEmpty ? Reactor.readable : Reactor.readable | Reactor.writable
        try? reactor.modify(socket, events: events)
    }

    private func receive() {
        while let socket {
            let result: FileDescriptor.ReadResult
            do throws(SystemError) { result = try socket.read(into: &readBuffer) } catch {
                return fail("cannot read from the template: \(error)")
            }
            switch result {
            case .wouldBlock: return
            case .endOfFile: return finish(nil)
            case .bytes(let count):
                decoder.append(readBuffer[0..<count])
                do throws(PreloadProtocolError) {
                    while let message = try decoder.nextMessage() {
                        try deliver(message)
                        if self.socket == nil { return }
                    }
                } catch {
                    return fail(error.description)
                }
            }
        }
    }

    private func deliver(_ message: PreloadMessage) throws(PreloadProtocolError) {
        switch message {
        case .hello(let pid, let runtime) where templatePid == nil:
            templatePid = pid
            onEvent(.ready(pid: pid, runtime: runtime))
        case .error(let slot, let text):
            onEvent(.failed(slot: slot, message: text))
        case .forked(let slot, let pid) where templatePid != nil:
            onEvent(.forked(slot: slot, pid: pid))
        case .exited(let pid, let status) where templatePid != nil:
            onEvent(.exited(pid: pid, status: ExitStatus(waitStatus: status)))
        default:
            let when = templatePid == nil ? "before its hello" : "after its hello"
            throw .invalidField(kind: message.kind.name, field: "message", reason: "is not expected from a template \(when)")
        }
    }

    private func fail(_ reason: String) { finish(reason) }

    private func finish(_ reason: String?) {
        close()
        onEvent(.closed(reason: reason))
    }
}
