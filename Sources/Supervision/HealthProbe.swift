import Glibc
import System

/// One HTTP GET of a worker's health path on the reactor: connect, send,
/// read the status line, close. 2xx passes; refusal, reset, another status
/// or no answer within the timeout fails. Without a path it only connects:
/// a worker whose port accepts is ready (a proxied pool with no probe).
/// A worker in a proxy's upstream is probed through the proxy's own
/// connections instead (ProbeInFlight.swift).
package final class HealthProbe: ProbeInFlight {
    package typealias Outcome = ProbeOutcome

    private unowned let reactor: Reactor
    private var fd: FileDescriptor?
    private var timeout: TimerID?
    private var request: [UInt8]
    private var sent = 0
    private var response: [UInt8] = []
    private var completion: ((Outcome) -> Void)?

    private let connectOnly: Bool

    init(reactor: Reactor, port: Int, path: String?, timeout: Duration, completion: @escaping (Outcome) -> Void) {
        self.reactor = reactor
        self.completion = completion
        connectOnly = path == nil
        request = path.map { Array("GET \($0) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: drover-health\r\nConnection: close\r\n\r\n".utf8) } ?? []
        self.timeout = reactor.schedule(after: timeout) { [unowned self] in self.finish(.timedOut) }
        do {
            switch try TCPSocket.connect(port: port) {
            case .connected(let socket), .inProgress(let socket):
                fd = socket
                try reactor.register(socket, events: Reactor.writable | Reactor.readable | Reactor.hangup) { [unowned self] events in
                    self.handle(events)
                }
            }
        } catch {
            // Report asynchronously so callers never see a re-entrant completion.
            reactor.cancel(self.timeout)
            self.timeout = reactor.schedule(after: .zero) { [unowned self] in self.finish(.failed(error.description)) }
        }
    }

    private func handle(_ events: UInt32) {
        guard let fd else { return }
        if connectOnly {
            let error = TCPSocket.pendingError(fd)
            if error == ECONNREFUSED { return finish(.refused) }
            if error != 0 { return finish(.failed(String(cString: strerror(error)))) }
            if events & Reactor.writable != 0 { return finish(.passed) }
            return
        }
        if sent < request.count {
            let error = TCPSocket.pendingError(fd)
            if error == ECONNREFUSED { return finish(.refused) }
            if error != 0 { return finish(.failed(String(cString: strerror(error)))) }
            if events & Reactor.writable != 0 {
                do {
                    sent += try fd.write(request, from: sent)
                } catch { return finish(.failed(error.description)) }
                if sent == request.count { try? reactor.modify(fd, events: Reactor.readable | Reactor.hangup) }
            }
            if sent < request.count { return }
        }
        var buffer = [UInt8](repeating: 0, count: 512)
        let result: Result<FileDescriptor.ReadResult, SystemError>
        do { result = .success(try fd.read(into: &buffer)) } catch { result = .failure(error) }
        switch result {
        case .failure(let error): finish(.failed(error.description))
        case .success(.wouldBlock): return
        case .success(.endOfFile): evaluate(final: true)
        case .success(.bytes(let n)):
            response.append(contentsOf: buffer[..<n])
            evaluate(final: false)
        }
    }

    private func evaluate(final: Bool) {
        // "HTTP/1.1 200 ..." — the status code is all a probe needs.
        if response.count >= 12 {
            let prefix = Array("HTTP/1.".utf8)
            guard response.starts(with: prefix), response[8] == UInt8(ascii: " ") else {
                return finish(.failed("not an HTTP response"))
            }
            let digits = response[9..<12]
            guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return finish(.failed("bad status line")) }
            let code = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
            return finish((200..<300).contains(code) ? .passed : .failed("status \(code)"))
        }
        if final { finish(.failed(response.isEmpty ? "connection closed without a response" : "truncated response")) }
    }

    /// Ends the probe, once; `cancel` ends it silently.
    private func finish(_ outcome: Outcome) {
        guard let completion else { return }
        self.completion = nil
        teardown()
        completion(outcome)
    }

    package func cancel() {
        completion = nil
        teardown()
    }

    private func teardown() {
        reactor.cancel(timeout)
        timeout = nil
        if let fd {
            reactor.unregister(fd)
            fd.close()
            self.fd = nil
        }
    }
}
