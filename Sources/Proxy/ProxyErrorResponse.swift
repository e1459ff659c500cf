import HTTP

/// The answers drover writes itself on the proxy listener: a status, a
/// short JSON body `{"error": ..., "code": ...}`, a Date, and the fields a
/// client needs to act on it (Retry-After on 503 and 429).
enum ProxyErrorResponse {
    static func code(for status: Int) -> String {
        switch status {
        case 400: "bad_request"
        case 408: "request_timeout"
        case 413: "payload_too_large"
        case 414: "uri_too_long"
        case 417: "expectation_failed"
        case 429: "rate_limited"
        case 431: "header_fields_too_large"
        case 501: "not_implemented"
        case 502: "bad_gateway"
        case 503: "unavailable"
        case 504: "gateway_timeout"
        case 505: "version_not_supported"
        default: "error"
        }
    }

    /// `date`: the proxy's Date field line (HTTPDateField), right after the status line.
    static func bytes(status: Int, reason: String, date: [UInt8], close: Bool, retryAfter: Int? = nil,
                      requestID: String? = nil, omitBody: Bool = false, keepAliveHeader: Bool = false) -> [UInt8] {
        var body = "{\"error\":"
        JSONText.appendQuoted(reason, to: &body)
        body += ",\"code\":\"\(code(for: status))\"}\n"
        var out = Array("HTTP/1.1 \(status) \(HTTPStatus.reasonPhrase(for: status))\r\n".utf8)
        out.append(contentsOf: date)
        var head = "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
        if let retryAfter { head += "Retry-After: \(retryAfter)\r\n" }
        if let requestID { head += "X-Request-Id: \(requestID)\r\n" }
        if close { head += "Connection: close\r\n" } else if keepAliveHeader { head += "Connection: keep-alive\r\n" }
        head += "\r\n"
        if !omitBody { head += body }
        out.append(contentsOf: head.utf8)
        return out
    }
}

/// JSON string quoting without Foundation.
enum JSONText {
    static func appendQuoted(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
