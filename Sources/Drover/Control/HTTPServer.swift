import Glibc

/// Accepts connections on one listener and serves them with a handler;
/// the control socket and the admin listener each run one.
public final class HTTPServer {
    private let listener: FileDescriptor
    private unowned let reactor: Reactor
    private let options: HTTPServerConnection.Options
    private let handler: (HTTPRequest, HTTPResponder) -> Void
    private var connections: [ObjectIdentifier: HTTPServerConnection] = [:]
    private let maxConnections: Int
    private let name: String
    public private(set) var requestsServed = 0

    init(name: String, listener: FileDescriptor, reactor: Reactor, options: HTTPServerConnection.Options = .init(),
         maxConnections: Int = 256, handler: @escaping (HTTPRequest, HTTPResponder) -> Void) throws(SystemError) {
        self.name = name
        self.listener = listener
        self.reactor = reactor
        self.options = options
        self.maxConnections = maxConnections
        self.handler = handler
        try reactor.register(listener, events: Reactor.readable) { [unowned self] _ in self.acceptAll() }
    }

    public var openConnections: Int { connections.count }

    private func acceptAll() {
        for _ in 0..<64 {
            guard let fd = Listener.accept(listener) else { return }
            if connections.count >= maxConnections {
                // Full: refuse at once rather than let one client starve the rest.
                _ = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".withCString {
                    Glibc.write(fd.rawValue, $0, strlen($0))
                }
                fd.close()
                continue
            }
            let connection = HTTPServerConnection(
                fd: fd, peer: name, reactor: reactor, options: options,
                handler: { [unowned self] request, responder in
                    self.requestsServed += 1
                    self.handler(request, responder)
                },
                onClose: { [unowned self] connection in self.connections[ObjectIdentifier(connection)] = nil })
            do {
                try connection.start()
                connections[ObjectIdentifier(connection)] = connection
            } catch {
                fd.close()
            }
        }
    }

    public func close() {
        reactor.unregister(listener)
        listener.close()
        for connection in Array(connections.values) { connection.close() }
    }
}
