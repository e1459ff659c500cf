import Admin
import Config
import Control
import Glibc
import HTTP
import HTTPServing
import Logs
import System

/// The daemon's listeners besides the proxy: the control socket every CLI
/// command talks to, and the optional admin listener.
final class ControlEndpoints {
    private let reactor: Reactor
    private let log: EventLog
    private var control: HTTPServer?
    private var admin: HTTPServer?
    /// Removed at exit: only a socket this daemon created.
    private(set) var socketPath: String?

    init(reactor: Reactor, log: EventLog) {
        self.reactor = reactor
        self.log = log
    }

    /// Opens the control socket: `[unix_http_server] file` must work (an
    /// error otherwise); the default `$DROVER_SOCKET` / `./drover.sock` is
    /// best effort (a read-only working directory only costs the CLI).
    func openControl(_ socket: StartupPlan.ControlSocket, api: ControlAPI) throws(SystemError) {
        let fd: OwnedDescriptor
        do throws(SystemError) {
            fd = try Listener.unix(path: socket.path, mode: socket.mode)
        } catch {
            if socket.explicit { throw error }
            log.warn("drover", "no control socket (\(error)); drover status and friends will not reach this daemon")
            return
        }
        socketPath = socket.path
        if let owner = socket.owner, let ids = socket.ownerIDs, chown(socket.path, ids.uid, ids.gid) != 0 {
            log.warn("drover", "chown \(owner) \(socket.path): \(SystemError("chown"))")
        }
        control = try HTTPServer(name: "control", listener: fd, reactor: reactor,
                                 onError: { [log] in log.warn("drover", $0) }) { request, responder in
            api.handle(request, responder)
        }
        log.info("drover", "control socket \(socket.path)")
    }

    func openAdmin(_ address: ListenAddress, tokenFile: String?, api: AdminAPI) throws(SystemError) {
        let fd: OwnedDescriptor
        switch address {
        case .tcp(let host, let port): fd = try Listener.tcp(host: host, port: port)
        case .unix(let path): fd = try Listener.unix(path: path, mode: 0o700)
        }
        var options = HTTPServerConnection.Options()
        // The token is checked on the head: a refused change never has its body read.
        options.inspectHead = { head in api.refusal(for: head) }
        admin = try HTTPServer(name: "admin", listener: fd, reactor: reactor, options: options,
                               onError: { [log] in log.warn("drover", $0) }) { request, responder in
            api.handle(request, responder)
        }
        log.info("drover", "admin listener on \(address)" + (tokenFile == nil ? " (read-only: no admin_token_file)" : ""))
    }

    func close() {
        control?.close()
        admin?.close()
        if let socketPath { unlink(socketPath) }
    }
}
