import CSystem
import Glibc

/// Accepts connections on one listening socket for the reactor. Out of
/// descriptors (EMFILE/ENFILE) it stops watching the listener for a moment
/// instead of spinning on a readable socket it cannot accept from, as nginx
/// does (`ngx_event_accept` disabling accept events); the kernel backlog
/// holds the clients meanwhile.
package final class Acceptor {
    /// Takes the accepted socket: the handler owns it from here.
    package typealias Handler = (_ client: consuming OwnedDescriptor, _ peer: String) -> Void

    /// The listening socket's number, for the reactor; valid until `close`.
    let listener: FileDescriptor
    /// The listening socket, owned from the listener's making until `close`.
    private var listenerSocket: OwnedDescriptor?
    private unowned let reactor: Reactor
    private let handler: Handler
    private let onError: (String) -> Void
    private var paused = false
    private var resumeTimer: TimerID?
    private var lastComplaint: Instant?
    package private(set) var acceptPauses = 0
    static let pauseOnExhaustion: Duration = .milliseconds(100)

    /// Takes the listening socket; on failure it is closed.
    package init(listener: consuming OwnedDescriptor, reactor: Reactor, onError: @escaping (String) -> Void,
                 handler: @escaping Handler) throws(SystemError) {
        self.listener = listener.borrowed
        listenerSocket = consume listener
        self.reactor = reactor
        self.handler = handler
        self.onError = onError
        try reactor.register(self.listener, events: Reactor.readable) { [unowned self] _ in self.acceptAvailable() }
    }

    private func acceptAvailable() {
        var peer = [CChar](repeating: 0, count: 64)
        for _ in 0..<64 {
            let raw = peer.withUnsafeMutableBufferPointer { cs_accept_peer(listener.rawValue, $0.baseAddress, Int32($0.count)) }
            if raw >= 0 {
                let text = peer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                handler(OwnedDescriptor(adopting: raw), text)
                if paused { return }
                continue
            }
            let code = cs_errno()
            switch code {
            case EINTR, ECONNABORTED, EPROTO: continue
            case EAGAIN, EWOULDBLOCK: return
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                pause(reason: String(cString: strerror(code)))
                return
            default:
                pause(reason: String(cString: strerror(code)))
                return
            }
        }
    }

    /// Stop accepting for now (out of descriptors, or a connection cap).
    func pause(reason: String?) {
        if let reason {
            let now = Instant.now
            if lastComplaint.map({ now.duration(since: $0) > .seconds(10) }) ?? true {
                lastComplaint = now
                onError("accept: \(reason); not accepting for \(Self.pauseOnExhaustion) (clients wait in the backlog)")
            }
        }
        guard !paused else { return }
        paused = true
        acceptPauses += 1
        try? reactor.modify(listener, events: 0)
        reactor.cancel(resumeTimer)
        resumeTimer = reactor.schedule(after: Self.pauseOnExhaustion) { [unowned self] in
            self.resumeTimer = nil
            self.resume()
        }
    }

    func resume() {
        guard paused else { return }
        paused = false
        reactor.cancel(resumeTimer)
        resumeTimer = nil
        try? reactor.modify(listener, events: Reactor.readable)
    }

    package func close() {
        reactor.cancel(resumeTimer)
        reactor.unregister(listener)
        listenerSocket.take()?.close()
    }
}
