import CSystem
import Glibc
import HTTP
import JSON
import System

/// Accepts connections on one listener and serves them with a handler;
/// the control socket and the admin listener each run one. Accepting goes
/// through an `Acceptor`, which stops watching the listener for a moment
/// when drover is out of descriptors instead of spinning on it.
package final class HTTPServer {
    private unowned let reactor: Reactor
    private var acceptor: Acceptor?
    private let options: HTTPServerConnection.Options
    private let handler: (HTTPRequest, HTTPResponder) -> Void
    private var connections: [ObjectIdentifier: HTTPServerConnection] = [:]
    private let maxConnections: Int
    let name: String
    package private(set) var requestsServed = 0
    /// Clients turned away with 503 because `maxConnections` were open.
    package private(set) var refusedConnections = 0

    package init(name: String, listener: consuming OwnedDescriptor, reactor: Reactor, options: HTTPServerConnection.Options = .init(),
         maxConnections: Int = 256, onError: @escaping (String) -> Void = { _ in },
         handler: @escaping (HTTPRequest, HTTPResponder) -> Void) throws(SystemError) {
        self.name = name
        self.reactor = reactor
        self.options = options
        self.maxConnections = maxConnections
        self.handler = handler
        acceptor = try Acceptor(listener: listener, reactor: reactor, onError: { onError("\(name): \($0)") }) {
            [unowned self] client, peer in self.accepted(client, peer: peer)
        }
    }

    package var openConnections: Int { connections.count }

    /// How often accepting paused for lack of descriptors (tests, diagnostics).
    var acceptPauses: Int { acceptor?.acceptPauses ?? 0 }

    private static let busyAnswer: [UInt8] = {
        let body = JSONValue.error("too many connections", code: "busy").json + "\n"
        return Array("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)
    }()

    private func accepted(_ client: consuming OwnedDescriptor, peer: String) {
        if connections.count >= maxConnections {
            // Full: refuse at once rather than let one client starve the rest.
            // A fresh socket takes these few bytes without blocking.
            refusedConnections += 1
            _ = Self.busyAnswer.withUnsafeBytes { Glibc.write(client.rawValue, $0.baseAddress, $0.count) }
            client.close()
            return
        }
        let connection = HTTPServerConnection(
            socket: client, peer: peer.isEmpty ? name : peer, reactor: reactor, options: options,
            handler: { [unowned self] request, responder in
                self.requestsServed += 1
                self.handler(request, responder)
            },
            onClose: { [unowned self] connection in self.connections[ObjectIdentifier(connection)] = nil })
        do {
            try connection.start()
            connections[ObjectIdentifier(connection)] = connection
        } catch {
            // start() closed the descriptor.
        }
    }

    package func close() {
        acceptor?.close()
        acceptor = nil
        for connection in Array(connections.values) { connection.close() }
    }
}
