import Foundation

/// A client connection that sends exactly the bytes it is given and reads
/// responses strictly by RFC 9112 framing, recording what it saw: interim
/// 1xx heads, the raw head, whether the body ended cleanly, when each chunk
/// arrived, and how the connection ended (EOF, reset, or a timeout). For
/// tests where the exact bytes a proxy sends or accepts matter.
final class WireClient: @unchecked Sendable {
    enum Ending: Equatable { case eof, reset, timeout }

    let fd: Int32
    /// Received bytes not consumed by a parsed response yet.
    private(set) var buffer: [UInt8] = []
    /// Set once the peer closed (EOF) or reset the connection.
    private(set) var ended: Ending?

    private init(fd: Int32, timeout: Double) {
        self.fd = fd
        setTimeout(timeout)
    }

    /// Connects to HOST:PORT; `receiveBuffer` (SO_RCVBUF) is set before
    /// connecting so the window stays small for slow-reader tests.
    static func tcp(_ port: Int, host: String = "127.0.0.1", timeout: Double = 5, receiveBuffer: Int? = nil) -> WireClient? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { Glibc.close(fd); return nil }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return WireClient(fd: fd, timeout: timeout)
    }

    static func unix(_ path: String, timeout: Double = 5) -> WireClient? {
        guard let fd = RawHTTP.connectUnix(path) else { return nil }
        return WireClient(fd: fd, timeout: timeout)
    }

    private var closed = false

    /// Closes the socket now (FIN, or RST if unread data is waiting).
    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    deinit { close() }

    func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends everything; false when the peer is gone.
    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Closes at once with a RST (SO_LINGER 0): unlike a FIN, which may be
    /// a half-close, that says the client is gone.
    func abort() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    /// One recv into the buffer: true when bytes arrived.
    @discardableResult
    func fill(max: Int = 65536) -> Bool {
        guard ended == nil else { return false }
        var chunk = [UInt8](repeating: 0, count: max)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { buffer += chunk[0..<n]; return true }
            if n == 0 { ended = .eof; return false }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return false }   // timeout: `ended` stays nil
            ended = .reset
            return false
        }
    }

    /// Waits up to `timeout` for the peer to close; returns how it ended
    /// (`.timeout` if it did not) and every byte received that no parsed
    /// response used (leftovers included).
    func waitForClose(timeout: Double = 5) -> (ending: Ending, extra: [UInt8]) {
        let deadline = Date().addingTimeInterval(timeout)
        while ended == nil && Date() < deadline {
            setTimeout(max(0.05, min(1, deadline.timeIntervalSinceNow)))
            fill()
        }
        setTimeout(5)
        let extra = buffer
        buffer.removeAll()
        return (ended ?? .timeout, extra)
    }

    /// True when bytes are waiting or the peer closed, without blocking.
    func hasPendingInput() -> Bool {
        if !buffer.isEmpty || ended != nil { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0
    }

    /// Reads one response (after any 1xx interim ones) to the end of its body.
    func readResponse(method: String = "GET") -> WireResponse {
        var response = WireResponse()
        while true {
            guard let head = readHead() else {
                response.ending = ended ?? .timeout
                response.problem = buffer.isEmpty ? "no response" : "incomplete head: \(String(decoding: buffer, as: UTF8.self).prefix(200))"
                return response
            }
            guard var parsed = WireResponse(head: head) else {
                response.problem = "unparsable head: \(head)"
                return response
            }
            parsed.headArrival = Date()
            if (100...199).contains(parsed.status) {
                response.interim.append(parsed)
                continue
            }
            parsed.interim = response.interim
            response = parsed
            break
        }
        readBody(&response, method: method)
        return response
    }

    /// The head up to and excluding its blank line (CRLF CRLF only: a proxy
    /// must always send CRLF).
    private func readHead() -> String? {
        while true {
            if let end = find([13, 10, 13, 10]) {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                return head
            }
            guard fill() else { return nil }
        }
    }

    private func find(_ needle: [UInt8], from start: Int = 0) -> Int? {
        guard buffer.count >= needle.count + start else { return nil }
        var i = start
        while i + needle.count <= buffer.count {
            if buffer[i] == needle[0] && Array(buffer[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    private func readBody(_ r: inout WireResponse, method: String) {
        if method == "HEAD" || r.status == 204 || r.status == 304 {
            r.framing = .none
            r.complete = true
            return
        }
        let codings = r.headers("transfer-encoding").flatMap { $0.lowercased().split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if let last = codings.last {
            r.framing = .chunked
            guard last == "chunked" else { r.problem = "transfer-encoding \(codings) without final chunked"; return }
            readChunks(&r)
            return
        }
        let lengths = r.headers("content-length")
        if !lengths.isEmpty {
            guard lengths.count == 1, let length = Int(lengths[0]), length >= 0 else {
                r.problem = "bad Content-Length \(lengths)"
                return
            }
            r.framing = .length(length)
            while buffer.count < length {
                guard fill() else { break }
            }
            let n = min(length, buffer.count)
            r.body = Array(buffer[..<n])
            buffer.removeFirst(n)
            r.complete = n == length
            if !r.complete { r.ending = ended ?? .timeout }
            return
        }
        // Close-delimited.
        r.framing = .close
        while fill() {}
        r.body = buffer
        buffer.removeAll()
        r.ending = ended ?? .timeout
        r.complete = ended == .eof
    }

    private func readChunks(_ r: inout WireResponse) {
        while true {
            guard let line = readLine() else { r.ending = ended ?? .timeout; return }
            let sizeText = line.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
            guard !sizeText.isEmpty, sizeText.allSatisfy(\.isHexDigit), let size = Int(sizeText, radix: 16) else {
                r.problem = "bad chunk size line: \(line)"
                return
            }
            if size == 0 {
                while true {
                    guard let trailer = readLine() else { r.ending = ended ?? .timeout; return }
                    if trailer.isEmpty { r.complete = true; return }
                    r.trailers.append(trailer)
                }
            }
            while buffer.count < size + 2 {
                guard fill() else { break }
            }
            let n = min(size, buffer.count)
            r.body += buffer[..<n]
            buffer.removeFirst(n)
            r.chunkArrivals.append(Date())
            guard n == size, buffer.count >= 2 else { r.ending = ended ?? .timeout; return }
            guard buffer[0] == 13 && buffer[1] == 10 else { r.problem = "chunk data not followed by CRLF"; return }
            buffer.removeFirst(2)
        }
    }

    /// A CRLF-terminated line (without it); nil when the connection ended first.
    private func readLine() -> String? {
        while true {
            if let end = find([13, 10]) {
                let line = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 2)
                return line
            }
            guard fill() else { return nil }
        }
    }

    /// Sends a request and reads its response.
    func exchange(_ request: String, method: String? = nil) -> WireResponse {
        send(request)
        return readResponse(method: method ?? String(request.prefix { $0 != " " }))
    }
}

struct WireResponse {
    enum Framing: Equatable { case none, length(Int), chunked, close }

    var status = 0
    var statusLine = ""
    /// Status line and header lines joined by CRLF, as received.
    var head = ""
    var headerLines: [String] = []
    var interim: [WireResponse] = []
    var body: [UInt8] = []
    var framing: Framing = .none
    var trailers: [String] = []
    /// The body ended as its framing says (all of Content-Length, the last
    /// chunk, or EOF for a close-delimited body).
    var complete = false
    /// How the connection ended when that cut the response short (or ended a close-delimited body).
    var ending: WireClient.Ending?
    var headArrival: Date?
    var chunkArrivals: [Date] = []
    /// A framing or syntax error in what was received.
    var problem: String?

    init() {}

    init?(head: String) {
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { return nil }
        self.status = status
        statusLine = lines[0]
        self.head = head
        headerLines = Array(lines.dropFirst())
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// Values of every field with this name (case-insensitive), trimmed.
    func headers(_ name: String) -> [String] {
        headerLines.compactMap { line in
            guard let colon = line.firstIndex(of: ":"),
                  line[..<colon].lowercased() == name.lowercased() else { return nil }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }

    func header(_ name: String) -> String? { headers(name).first }

    /// The `Connection` tokens, lowercased.
    var connectionTokens: [String] {
        headers("connection").flatMap { $0.lowercased().split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    var summary: String {
        "\(head.isEmpty ? "(no head)" : head)\n[body \(body.count) bytes: \(text.prefix(300))] complete=\(complete) ending=\(String(describing: ending)) problem=\(problem ?? "-")"
    }
}
