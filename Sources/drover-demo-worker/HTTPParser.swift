// An incremental HTTP/1.x request parser. It is re-run over a connection's
// buffered bytes whenever more arrive and either reports a complete request
// (and how many bytes it used, so pipelined requests follow), asks for more
// data, or fails with the status to answer. Strict where leniency would let
// a front proxy and this worker disagree about message boundaries (request
// smuggling): conflicting Content-Length, Content-Length + chunked, folded
// headers and spaces before the colon are all rejected.

struct HTTPRequest {
    var method: String
    /// Path without the query string, e.g. "/predict".
    var path: String
    /// Raw query string after "?", not yet percent-decoded.
    var query: String
    var minorVersion: Int
    /// Header names lowercased, in arrival order.
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    var keepAlive: Bool
    /// The request line and header lines exactly as received (line endings
    /// included, the blank line that ends the head excluded): `/echo` of
    /// `--test-routes` shows it.
    var rawHead: [UInt8] = []

    func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }
}

enum ParseResult {
    /// Not enough bytes yet. `expectsContinue` is set once the head is
    /// complete and the client sent `Expect: 100-continue` (curl does for
    /// bodies over 1 KiB and waits a second for the interim response).
    case incomplete(expectsContinue: Bool)
    case complete(HTTPRequest, consumed: Int)
    case failure(status: Int, reason: String)
}

struct HTTPLimits {
    static let maxHead = 16 * 1024
    static let maxBody = 1024 * 1024
}

func parseRequest(_ buffer: UnsafeBufferPointer<UInt8>) -> ParseResult {
    // Tolerate the stray blank lines RFC 9112 §2.2 allows before a request.
    var start = 0
    while start < buffer.count, buffer[start] == 0x0D || buffer[start] == 0x0A { start += 1 }

    guard let (headEnd, bodyStart) = findHeadEnd(buffer, from: start) else {
        if buffer.count - start > HTTPLimits.maxHead {
            return .failure(status: 431, reason: "request head larger than 16 KiB")
        }
        return .incomplete(expectsContinue: false)
    }
    if headEnd - start > HTTPLimits.maxHead { return .failure(status: 431, reason: "request head larger than 16 KiB") }

    var lines = splitLines(buffer, from: start, to: headEnd)
    guard !lines.isEmpty else { return .failure(status: 400, reason: "empty request") }
    let requestLine = lines.removeFirst()

    // Request line: METHOD SP target SP HTTP/1.x — exactly two single spaces.
    let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: false)
    guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
        return .failure(status: 400, reason: "malformed request line")
    }
    guard parts[0].allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else { return .failure(status: 400, reason: "malformed method") }
    let version = String(decoding: parts[2], as: UTF8.self)
    let minor: Int
    switch version {
    case "HTTP/1.1": minor = 1
    case "HTTP/1.0": minor = 0
    default:
        if version.hasPrefix("HTTP/") && version.count == 8 { return .failure(status: 505, reason: "only HTTP/1.0 and HTTP/1.1 are supported") }
        return .failure(status: 400, reason: "malformed HTTP version")
    }
    guard parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return .failure(status: 400, reason: "malformed request target") }
    var target = String(decoding: parts[1], as: UTF8.self)
    // Absolute-form ("http://host/path", sent by some proxies) → origin-form.
    if target.hasPrefix("http://") || target.hasPrefix("https://") {
        let afterScheme = target[target.index(target.firstIndex(of: ":")!, offsetBy: 3)...]
        target = afterScheme.firstIndex(of: "/").map { String(afterScheme[$0...]) } ?? "/"
    }
    guard target.hasPrefix("/") else { return .failure(status: 400, reason: "malformed request target") }
    let path: String, query: String
    if let q = target.firstIndex(of: "?") {
        path = String(target[..<q]); query = String(target[target.index(after: q)...])
    } else {
        path = target; query = ""
    }

    var headers: [(name: String, value: String)] = []
    for line in lines {
        guard let first = line.first, first != 0x20 && first != 0x09 else {
            return .failure(status: 400, reason: "obsolete header line folding")
        }
        guard let colon = line.firstIndex(of: 0x3A), colon > line.startIndex else {
            return .failure(status: 400, reason: "malformed header line")
        }
        let name = line[line.startIndex..<colon]
        guard name.allSatisfy(isTokenByte) else { return .failure(status: 400, reason: "malformed header name") }
        let value = line[(colon + 1)...].drop(while: { $0 == 0x20 || $0 == 0x09 })
        guard value.allSatisfy({ $0 >= 0x20 || $0 == 0x09 }) else { return .failure(status: 400, reason: "control character in header") }
        var v = String(decoding: value, as: UTF8.self)
        while v.last == " " || v.last == "\t" { v.removeLast() }
        headers.append((String(decoding: name, as: UTF8.self).lowercased(), v))
    }

    var request = HTTPRequest(method: String(decoding: parts[0], as: UTF8.self), path: path, query: query,
                              minorVersion: minor, headers: headers, body: [], keepAlive: minor == 1,
                              rawHead: Array(buffer[start..<headEnd]))
    let connectionTokens = headers.filter { $0.name == "connection" }
        .flatMap { $0.value.lowercased().split(separator: ",").map { $0.trimmingSpaces() } }
    if connectionTokens.contains("close") { request.keepAlive = false }
    else if minor == 0 && connectionTokens.contains("keep-alive") { request.keepAlive = true }

    let lengths = headers.filter { $0.name == "content-length" }.map(\.value)
    let encodings = headers.filter { $0.name == "transfer-encoding" }
        .flatMap { $0.value.lowercased().split(separator: ",").map { $0.trimmingSpaces() } }

    if !encodings.isEmpty {
        guard lengths.isEmpty else { return .failure(status: 400, reason: "both Content-Length and Transfer-Encoding") }
        guard encodings == ["chunked"] else { return .failure(status: 501, reason: "unsupported Transfer-Encoding") }
        guard minor == 1 else { return .failure(status: 400, reason: "chunked encoding in an HTTP/1.0 request") }
        switch decodeChunked(buffer, from: bodyStart) {
        case .incomplete:
            return .incomplete(expectsContinue: expectsContinue(request))
        case .failure(let status, let reason):
            return .failure(status: status, reason: reason)
        case .complete(let body, let end):
            request.body = body
            return .complete(request, consumed: end)
        }
    }

    var length = 0
    if !lengths.isEmpty {
        let distinct = Set(lengths.flatMap { $0.split(separator: ",").map { $0.trimmingSpaces() } })
        guard distinct.count == 1, let text = distinct.first, !text.isEmpty,
              text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { return .failure(status: 400, reason: "invalid Content-Length") }
        // Too many digits to fit, or just too big: either way over the limit.
        guard text.count <= 10, let n = Int(text), n <= HTTPLimits.maxBody else {
            return .failure(status: 413, reason: "request body larger than 1 MiB")
        }
        length = n
    }
    guard buffer.count - bodyStart >= length else { return .incomplete(expectsContinue: expectsContinue(request)) }
    request.body = Array(buffer[bodyStart..<(bodyStart + length)])
    return .complete(request, consumed: bodyStart + length)
}

private func expectsContinue(_ request: HTTPRequest) -> Bool {
    request.minorVersion == 1 && request.header("expect")?.lowercased() == "100-continue"
}

/// End of the head (index of the first byte of the terminating blank line)
/// and start of the body. Accepts bare LF line endings as RFC 9112 allows.
private func findHeadEnd(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> (Int, Int)? {
    var i = start
    while i < b.count {
        if b[i] == 0x0A {
            if i + 1 < b.count && b[i + 1] == 0x0A { return (i + 1, i + 2) }
            if i + 2 < b.count && b[i + 1] == 0x0D && b[i + 2] == 0x0A { return (i + 1, i + 3) }
        }
        i += 1
    }
    return nil
}

/// Lines of the head, each without its CR LF (or bare LF).
private func splitLines(_ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> [ArraySlice<UInt8>] {
    let head = Array(b[start..<end])
    return head.split(separator: 0x0A, omittingEmptySubsequences: false).compactMap { line in
        var l = line
        if l.last == 0x0D { l = l.dropLast() }
        return l.isEmpty ? nil : l
    }
}

private func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    default: return "!#$%&'*+-.^_`|~".utf8.contains(b)
    }
}

private enum ChunkedResult {
    case incomplete
    case complete([UInt8], end: Int)
    case failure(Int, String)
}

/// Decodes a chunked body starting at `from`; chunk extensions and trailer
/// fields are accepted and ignored.
private func decodeChunked(_ b: UnsafeBufferPointer<UInt8>, from: Int) -> ChunkedResult {
    var body: [UInt8] = []
    var i = from
    func readLine() -> ArraySlice<UInt8>?? {   // nil = need more, .some(nil) = too long
        var j = i
        while j < b.count && b[j] != 0x0A {
            if j - i > 1024 { return .some(nil) }
            j += 1
        }
        guard j < b.count else { return nil }
        var line = Array(b[i..<j])[...]
        if line.last == 0x0D { line = line.dropLast() }
        i = j + 1
        return .some(line)
    }
    while true {
        guard let maybeLine = readLine() else { return .incomplete }
        guard let line = maybeLine else { return .failure(400, "chunk size line too long") }
        let sizeText = line.prefix { $0 != 0x3B }                // strip ";ext"
            .filter { $0 != 0x20 && $0 != 0x09 }
        guard !sizeText.isEmpty, sizeText.count <= 8,
              let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16)
        else { return .failure(400, "invalid chunk size") }
        if size == 0 {
            // Trailer section: header lines until an empty line.
            while true {
                guard let t = readLine() else { return .incomplete }
                guard let trailer = t else { return .failure(400, "trailer line too long") }
                if trailer.isEmpty { return .complete(body, end: i) }
            }
        }
        guard body.count + size <= HTTPLimits.maxBody else { return .failure(413, "request body larger than 1 MiB") }
        guard b.count - i >= size else { return .incomplete }
        body.append(contentsOf: b[i..<(i + size)])
        i += size
        // The chunk data must be followed by CRLF (or a bare LF).
        guard i < b.count else { return .incomplete }
        if b[i] == 0x0D {
            guard i + 1 < b.count else { return .incomplete }
            guard b[i + 1] == 0x0A else { return .failure(400, "missing CRLF after chunk") }
            i += 2
        } else if b[i] == 0x0A {
            i += 1
        } else {
            return .failure(400, "missing CRLF after chunk")
        }
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// Decodes `%XX` escapes and `+` (form encoding) in a query component.
func percentDecode(_ s: Substring) -> String {
    var out: [UInt8] = []
    var bytes = Array(s.utf8)[...]
    while let b = bytes.popFirst() {
        if b == UInt8(ascii: "+") { out.append(0x20); continue }
        if b == UInt8(ascii: "%"), bytes.count >= 2,
           let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
            out.append(v); bytes = bytes.dropFirst(2); continue
        }
        out.append(b)
    }
    return String(decoding: out, as: UTF8.self)
}

/// The value of `name` in a query string, percent-decoded.
func queryValue(_ query: String, _ name: String) -> String? {
    for pair in query.split(separator: "&") {
        let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        if percentDecode(kv[0]) == name { return kv.count > 1 ? percentDecode(kv[1]) : "" }
    }
    return nil
}
