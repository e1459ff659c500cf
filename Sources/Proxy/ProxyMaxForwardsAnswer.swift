import HTTP

/// What drover answers itself to a TRACE or OPTIONS request that arrives
/// with `Max-Forwards: 0`: it must not forward it and must answer as the
/// final recipient (RFC 9110 §7.6.2). Kept minimal and safe:
///
/// - TRACE: 200, `message/http`, the request as received (start line and
///   field lines) without `Cookie`, `Authorization` and
///   `Proxy-Authorization`, which the final recipient SHOULD leave out
///   (RFC 9110 §9.3.8): a TRACE answer read by a script must not hand it
///   the credentials the browser attached. The body, if any, is dropped.
/// - OPTIONS: 200 with `Allow` naming the standard methods drover passes on
///   (every method but CONNECT) and no content.
struct ProxyMaxForwardsAnswer {
    /// The answer's content (the TRACE echo; empty for OPTIONS).
    let content: [UInt8]
    let isTrace: Bool

    static let allow = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE"

    /// Built while the head's bytes are still at hand (the body is read after).
    init(_ raw: UnsafeRawBufferPointer, _ scanner: HTTPHeadScanner, _ request: HTTPRequestHeadRanges) {
        isTrace = request.isTrace
        guard request.isTrace else {
            content = []
            return
        }
        var echo: [UInt8] = []
        echo.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[scanner.startLine]))
        HTTPHeadBytes.appendCRLF(to: &echo)
        for field in scanner.fields where !Self.isCredential(raw, field.name) {
            echo.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[field.line]))
            HTTPHeadBytes.appendCRLF(to: &echo)
        }
        HTTPHeadBytes.appendCRLF(to: &echo)
        content = echo
    }

    private static func isCredential(_ raw: UnsafeRawBufferPointer, _ name: Range<Int>) -> Bool {
        HTTPHeadBytes.equalsLowercase(raw, name, "cookie") || HTTPHeadBytes.equalsLowercase(raw, name, "authorization")
            || HTTPHeadBytes.equalsLowercase(raw, name, "proxy-authorization")
    }

    /// The whole answer: status line, Date, fields, `connection` (the
    /// client connection's own Connection line, or empty), content.
    func bytes(date: [UInt8], connection: String) -> [UInt8] {
        var out = Array("HTTP/1.1 200 OK\r\n".utf8)
        out.append(contentsOf: date)
        if isTrace {
            out.append(contentsOf: "Content-Type: message/http\r\nContent-Length: \(content.count)\r\n".utf8)
        } else {
            out.append(contentsOf: "Allow: \(Self.allow)\r\nContent-Length: 0\r\n".utf8)
        }
        out.append(contentsOf: connection.utf8)
        HTTPHeadBytes.appendCRLF(to: &out)
        out.append(contentsOf: content)
        return out
    }
}
