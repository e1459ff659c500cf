// `--test-routes`: endpoints that exist only so drover's own tests can see
// what its proxy forwarded and make a worker misbehave on cue. Off by
// default (they 404). /echo and /pid are ordinary responses; /sleep and
// /raw/* need the socket itself, so routing hands them to the server loop
// as a `TestAction` (the worker stays single-threaded: they block it, like
// a busy model would).

import CSystem
import Glibc

enum TestAction {
    /// Block the worker this long, then answer `PID\n`.
    case sleep(milliseconds: Int)
    /// Write scripted bytes and then do something rude (see `RawScript`).
    case raw(RawScript)
}

enum RawScript {
    case closeDelimited, headBody, noContentBody, badContentLength, twoContentLengths
    case lengthAndChunked, obsFold, spaceBeforeColon, interim, reset, dieMidBody, exit
    case gzipCoded, gzipThenChunked
    case stream(chunks: Int, milliseconds: Int)
    case big(bytes: Int)

    init?(name: String, query: String) {
        switch name {
        case "close-delimited": self = .closeDelimited
        case "head-body": self = .headBody
        case "204-body": self = .noContentBody
        case "bad-cl": self = .badContentLength
        case "two-cl": self = .twoContentLengths
        case "cl-te": self = .lengthAndChunked
        case "te-gzip": self = .gzipCoded
        case "te-gzip-chunked": self = .gzipThenChunked
        case "obs-fold": self = .obsFold
        case "space-colon": self = .spaceBeforeColon
        case "interim": self = .interim
        case "reset": self = .reset
        case "die-mid-body": self = .dieMidBody
        case "exit": self = .exit
        case "stream":
            self = .stream(chunks: queryInt(query, "n") ?? 5, milliseconds: queryInt(query, "ms") ?? 100)
        case "big":
            self = .big(bytes: queryInt(query, "bytes") ?? 1_000_000)
        default: return nil
        }
    }
}

private func queryInt(_ query: String, _ name: String) -> Int? {
    queryValue(query, name).flatMap { Int($0) }.map { max(0, $0) }
}

/// The repeating 64-byte pattern of `/raw/big` bodies: byte i is
/// `bigBodyPattern[i % 64]`, so a reader can check every byte.
let bigBodyPattern = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-\n".utf8)

extension App {
    func handleTestRoute(_ request: HTTPRequest) -> Handled? {
        let path = request.path
        if path == "/echo" {
            var response = Response(status: 200, text: "")
            response.contentType = "text/plain"
            response.body = request.rawHead + Array("\r\n".utf8) + request.body
            response.extraHeaders = [("X-Worker-Pid", String(pid)), ("X-Worker-Port", String(port))]
            return .respond(response)
        }
        if path == "/pid" {
            return .respond(pidResponse())
        }
        if path == "/sleep" {
            return .test(.sleep(milliseconds: queryValue(request.query, "ms").flatMap { Int($0) }.map { max(0, $0) } ?? 0))
        }
        if path.hasPrefix("/raw/") {
            let name = String(path.dropFirst("/raw/".count))
            guard let script = RawScript(name: name, query: request.query) else {
                return .respond(.error(404, "no such raw script: \(name)"))
            }
            // `?port=P`: only the worker on port P misbehaves (retry tests
            // need one bad worker and a good one).
            if let only = queryValue(request.query, "port").flatMap({ Int($0) }), only != port {
                return .respond(pidResponse())
            }
            return .test(.raw(script))
        }
        return nil
    }

    func pidResponse() -> Response {
        var response = Response(status: 200, text: "\(pid)\n")
        response.contentType = "text/plain"
        response.extraHeaders = [("X-Worker-Pid", String(pid)), ("X-Worker-Port", String(port))]
        return response
    }
}

extension Server {
    func runTestAction(_ action: TestAction, on c: Connection, request: HTTPRequest) {
        switch action {
        case .sleep(let ms):
            if ms > 0 { pause(milliseconds: Double(ms)) }
            c.output += serialize(app.pidResponse(), keepAlive: request.keepAlive, minorVersion: request.minorVersion,
                                  headOnly: request.method == "HEAD")
        case .raw(let script):
            // Earlier pipelined responses go first, synchronously.
            if c.pendingOutput > 0 {
                guard writeAll(c.fd, Array(c.output[c.outputStart...])) == .done else { c.dead = true; return }
                c.output.removeAll(); c.outputStart = 0
            }
            runRaw(script, on: c, request: request)
        }
    }

    private func runRaw(_ script: RawScript, on c: Connection, request: HTTPRequest) {
        let pidHeader = "X-Worker-Pid: \(app.pid)\r\n"
        /// Writes the bytes; on failure the connection is dead.
        func send(_ text: String) -> Bool {
            guard writeAll(c.fd, Array(text.utf8)) == .done else { c.dead = true; return false }
            return true
        }
        switch script {
        case .closeDelimited:
            // HTTP/1.0 style: no Content-Length, no chunking; the end of the
            // body is the end of the connection.
            guard send("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\(pidHeader)\r\nclose-delimited body\n") else { return }
            c.closing = true
        case .headBody:
            // Body bytes even when the request was HEAD.
            _ = send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\(pidHeader)\r\nhead-body\n")
        case .noContentBody:
            // A 204 ends at its blank line; these bytes are garbage after it.
            _ = send("HTTP/1.1 204 No Content\r\n\(pidHeader)\r\n204-body garbage\n")
        case .badContentLength:
            if send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: abc\r\n\r\nbad-cl body\n") { c.closing = true }
        case .twoContentLengths:
            if send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde") { c.closing = true }
        case .lengthAndChunked:
            if send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "6\r\ncl-te\n\r\n0\r\n\r\n") { c.closing = true }
        case .gzipCoded:
            // A transfer coding other than chunked: the body ends at close
            // (RFC 9112 §6.3 rule 4). The bytes only stand in for gzip.
            if send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip\r\n\r\n\u{1F}\u{8B}coded\n") {
                c.closing = true
            }
        case .gzipThenChunked:
            if send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                    + "9\r\n\u{1F}\u{8B}coded\n\r\n0\r\n\r\n") { c.closing = true }
        case .obsFold:
            if send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Fold: first\r\n second\r\nContent-Length: 9\r\n\r\nobs-fold\n") {
                c.closing = true
            }
        case .spaceBeforeColon:
            if send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A : b\r\nContent-Length: 12\r\n\r\nspace-colon\n") {
                c.closing = true
            }
        case .interim:
            _ = send("HTTP/1.1 100 Continue\r\n\r\n"
                     + "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
                     + "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\(pidHeader)"
                     + (request.keepAlive ? "" : "Connection: close\r\n") + "\r\ninterim\n")
        case .reset:
            // RST instead of FIN, before any byte of an answer.
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            c.dead = true
        case .dieMidBody:
            if send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\(pidHeader)\r\n0123456789") {
                _exit(1)
            }
        case .exit:
            _exit(1)
        case .stream(let chunks, let ms):
            let chunked = request.minorVersion == 1
            var head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\(pidHeader)"
            head += chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n"
            if !chunked || !request.keepAlive { c.closing = true }
            if chunked && !request.keepAlive { head += "Connection: close\r\n" }
            guard send(head + "\r\n") else { return }
            for i in stride(from: 1, through: chunks, by: 1) {
                if ms > 0 { pause(milliseconds: Double(ms)) }
                let payload = "chunk \(i)\n"
                guard send(chunked ? String(payload.utf8.count, radix: 16) + "\r\n" + payload + "\r\n" : payload) else { return }
            }
            if chunked { _ = send("0\r\n\r\n") }
        case .big(let bytes):
            var head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(bytes)\r\n\(pidHeader)"
            if !request.keepAlive { head += "Connection: close\r\n" }
            guard send(head + "\r\n"), request.method != "HEAD" else { return }
            let piece = 64 * 1024   // a multiple of the pattern's length
            let block = (0..<piece).map { bigBodyPattern[$0 % bigBodyPattern.count] }
            var left = bytes
            while left > 0 {
                let n = min(left, piece)
                guard writeAll(c.fd, n == piece ? block : Array(block[..<n]), timeoutMs: 120_000) == .done else {
                    c.dead = true; return
                }
                left -= n
            }
        }
    }
}
