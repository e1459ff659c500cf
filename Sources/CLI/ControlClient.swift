import CSystem
import Config
import Glibc
import HTTP
import JSON
import System

/// The CLI's side of the control socket: one blocking HTTP/1.1 exchange per
/// call (the CLI is not the daemon; waiting is what it should do).
struct ControlClient {
    struct Response {
        var status: Int
        var body: [UInt8]
        var json: JSONValue? { try? JSONValue.parse(body) }
    }

    /// The daemon did not answer: what was tried, why, and what to type.
    struct Unreachable: Error, CustomStringConvertible {
        var socket: String
        var reason: String

        var description: String {
            "cannot reach the daemon at \(socket): \(reason); start it with drover run, or point at its socket with -s PATH (or $DROVER_SOCKET)"
        }
    }

    let socketPath: String

    /// Sends one request; `onBody` gets streamed body bytes of a 2xx answer
    /// as they arrive (for `tail -f`), otherwise the body is returned whole.
    func request(_ method: String, _ target: String, json: JSONValue? = nil,
                 onBody: (([UInt8]) -> Void)? = nil) throws(Unreachable) -> Response {
        let fd = try connect()
        defer { fd.close() }
        let body = json.map { Array($0.json.utf8) } ?? []
        var headers: HTTPHeaders = ["Host": "drover", "User-Agent": "drover-cli/\(DroverCommand.version)", "Connection": "close"]
        if json != nil { headers.add(name: "Content-Type", value: "application/json") }
        if method == "POST" || json != nil { headers.add(name: "Content-Length", value: String(body.count)) }
        var bytes: [UInt8]
        do throws(HTTPHeadWriterError) {
            bytes = try HTTPHeadWriter.request(method: method, target: target, headers: headers)
        } catch {
            throw Unreachable(socket: socketPath, reason: "cannot write the request: \(error.reason)")
        }
        bytes.append(contentsOf: body)
        do { try fd.writeAll(bytes) } catch { throw Unreachable(socket: socketPath, reason: error.description) }

        var parser = HTTPResponseParser(requestMethod: method)
        var events: [HTTPResponseEvent] = []
        var status = 0
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var done = false
        while !done {
            let result: FileDescriptor.ReadResult
            do { result = try fd.read(into: &buffer) } catch { throw Unreachable(socket: socketPath, reason: error.description) }
            switch result {
            case .bytes(let n):
                buffer.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[..<n]), into: &events) }
            case .endOfFile:
                parser.finish(into: &events)
                done = true
            case .wouldBlock:
                continue
            }
            for event in events {
                switch event {
                case .informational: continue
                case .head(let head): status = head.status
                case .body(let chunk):
                    // Only a successful answer streams; an error body is
                    // JSON for the caller to word, never the user's stdout.
                    if let onBody, (200..<300).contains(status) { onBody(Array(chunk)) } else { collected.append(contentsOf: chunk) }
                case .end: done = true
                case .error(let error):
                    throw Unreachable(socket: socketPath, reason: "bad answer from the daemon: \(error.reason)")
                }
            }
            events.removeAll(keepingCapacity: true)
        }
        guard status > 0 else { throw Unreachable(socket: socketPath, reason: "the daemon closed the connection without answering") }
        return Response(status: status, body: collected)
    }

    private func connect() throws(Unreachable) -> FileDescriptor {
        let raw = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard raw >= 0 else { throw Unreachable(socket: socketPath, reason: String(cString: strerror(errno))) }
        var address: sockaddr_un
        do throws(SystemError) { address = try Listener.unixAddress(socketPath) } catch {
            Glibc.close(raw)
            throw Unreachable(socket: socketPath, reason: "path too long for a unix socket")
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(raw, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            let reason = String(cString: strerror(errno))
            Glibc.close(raw)
            throw Unreachable(socket: socketPath, reason: reason)
        }
        return FileDescriptor(rawValue: raw)
    }

    /// `-s/--socket`, else `$DROVER_SOCKET`, else the config's
    /// `[unix_http_server] file`, else `./drover.sock` (SPEC §2).
    static func discover(explicit: String?, configPath: String?, environment: [String: String]) -> String {
        if let explicit { return explicit }
        if let fromEnvironment = environment["DROVER_SOCKET"], !fromEnvironment.isEmpty { return fromEnvironment }
        let path = configPath ?? "supervisor.conf"
        if configPath != nil || ConfigPaths.exists(path),
           let config = try? ConfigLoader.load(path: path, environment: environment, for: .check),
           let file = config.unixHTTPServer?.file {
            return file
        }
        return "drover.sock"
    }
}
