import Glibc
import Testing
@testable import Admin
@testable import CLI
@testable import Config
@testable import Control
@testable import HTTP
@testable import HTTPServing
@testable import JSON
@testable import Logs
@testable import Proxy
@testable import Runtime
@testable import Supervision
@testable import System

/// A ProxyServer built in-process without listening: a Reactor that is never
/// run, an EventLog to /dev/null. Enough for forwardedHead and for making
/// Exchange objects (which need a ProxyClientConnection: one end of a
/// socketpair, never started). Descriptors are closed by `close()`.
final class ProxyUnitFixture {
    let reactor: Reactor
    let console: ConsoleWriter
    let log: EventLog
    let proxy: ProxyServer
    private var descriptors: [Int32] = []
    private var clients: [ProxyClientConnection] = []
    private var processes: [TestWorker] = []

    static func config(_ adjust: (inout ProxyConfig) -> Void = { _ in }) -> ProxyConfig {
        var config = ProxyConfig(name: "front", listen: .tcp(host: "127.0.0.1", port: 0), upstream: "w")
        adjust(&config)
        return config
    }

    init(config: ProxyConfig = ProxyUnitFixture.config(), testClock: Bool = false) throws {
        reactor = testClock ? try Reactor.withTestClock() : try Reactor()
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        descriptors.append(null)
        console = ConsoleWriter(descriptor: FileDescriptor(rawValue: null), reactor: nil)
        log = EventLog(console: console)
        proxy = try ProxyServer(config: config, reactor: reactor, log: log, console: console)
    }

    /// A client connection on one end of a socketpair (kept alive here).
    func client() throws -> ProxyClientConnection {
        var fds: [Int32] = [-1, -1]
        let rc = fds.withUnsafeMutableBufferPointer { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, $0.baseAddress) }
        try #require(rc == 0, "socketpair: errno \(errno)")
        descriptors.append(contentsOf: fds)
        let connection = ProxyClientConnection(stream: StreamConnection(socket: OwnedDescriptor(adopting: fds[0]), reactor: reactor),
                                               proxy: proxy, peer: "10.0.0.9")
        clients.append(connection)
        return connection
    }

    private var sharedClient: ProxyClientConnection?

    /// An exchange whose client stays connected; `tag` goes in requestID.
    func exchange(_ tag: String, idempotent: Bool = true) throws -> Exchange {
        let client: ProxyClientConnection
        if let sharedClient { client = sharedClient } else {
            client = try self.client()
            sharedClient = client
        }
        let request = Array("GET /\(tag) HTTP/1.1\r\nX-Request-Id: \(tag)\r\n\r\n".utf8)
        let idStart = "GET /\(tag) HTTP/1.1\r\nX-Request-Id: ".utf8.count
        return Exchange(client: client, request: request, isIdempotent: idempotent, isHead: false, clientIsHTTP10: false,
                        requestIDRange: idStart..<(idStart + tag.utf8.count), receivedAt: .now)
    }

    /// A worker as the supervisor names it to the pool (PoolMembership).
    func process(_ name: String, port: Int) -> TestWorker {
        let worker = TestWorker(id: WorkerID(5000 + processes.count), name: name)
        processes.append(worker)
        return worker
    }

    func close() {
        for fd in descriptors { Glibc.close(fd) }
        descriptors = []
    }

    deinit { close() }
}

/// A worker the pool tests add and remove by its id.
struct TestWorker {
    let id: WorkerID
    let name: String
}

extension WorkerPool {
    func add(_ worker: TestWorker, port: Int) { add(worker.id, name: worker.name, port: port) }
    func remove(_ worker: TestWorker) { remove(worker.id) }
    func slot(for worker: TestWorker) -> WorkerSlot? { slot(for: worker.id) }
}
