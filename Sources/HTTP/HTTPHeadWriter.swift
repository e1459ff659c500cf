/// A field, method, target or reason that cannot be written without
/// changing the message's meaning (CR/LF injection, a name that is not a
/// token). Writers refuse rather than sanitize: silently rewriting a value
/// would hide the bug that produced it.
package struct HTTPHeadWriterError: Error, Sendable, Hashable, CustomStringConvertible {
    package var reason: String
    package init(reason: String) { self.reason = reason }
    package var description: String { reason }
}

/// Serializes request and response heads to wire bytes, validating every
/// piece so no caller can inject a header or split a message.
package enum HTTPHeadWriter {
    /// `HTTP/1.1 200 OK\r\n` + fields + `\r\n`. `reason` defaults to the
    /// standard phrase.
    package static func response(
        status: Int, reason: String? = nil, version: HTTPVersion = .http11, headers: HTTPHeaders
    ) throws(HTTPHeadWriterError) -> [UInt8] {
        guard (100...999).contains(status) else { throw HTTPHeadWriterError(reason: "status \(status) is not three digits") }
        let phrase = reason ?? HTTPStatus.reasonPhrase(for: status)
        guard phrase.utf8.allSatisfy(HTTPSyntax.isFieldValueByte) else {
            throw HTTPHeadWriterError(reason: "control character in reason phrase")
        }
        var out: [UInt8] = []
        out.reserveCapacity(64 + headers.count * 32)
        out.append(contentsOf: version.text.utf8)
        out.append(HTTPSyntax.space)
        out.append(contentsOf: String(status).utf8)
        out.append(HTTPSyntax.space)
        out.append(contentsOf: phrase.utf8)
        try appendFields(headers, to: &out)
        return out
    }

    package static func response(_ head: HTTPResponseHead) throws(HTTPHeadWriterError) -> [UInt8] {
        try response(status: head.status, reason: head.reason, version: head.version, headers: head.headers)
    }

    /// `GET /x HTTP/1.1\r\n` + fields + `\r\n`.
    package static func request(
        method: String, target: String, version: HTTPVersion = .http11, headers: HTTPHeaders
    ) throws(HTTPHeadWriterError) -> [UInt8] {
        guard HTTPSyntax.isToken(method.utf8) else { throw HTTPHeadWriterError(reason: "method is not a token") }
        guard !target.isEmpty, target.utf8.allSatisfy(HTTPSyntax.isTargetByte) else {
            throw HTTPHeadWriterError(reason: "invalid request target")
        }
        var out: [UInt8] = []
        out.reserveCapacity(64 + headers.count * 32)
        out.append(contentsOf: method.utf8)
        out.append(HTTPSyntax.space)
        out.append(contentsOf: target.utf8)
        out.append(HTTPSyntax.space)
        out.append(contentsOf: version.text.utf8)
        try appendFields(headers, to: &out)
        return out
    }

    package static func request(_ head: HTTPRequestHead) throws(HTTPHeadWriterError) -> [UInt8] {
        try request(method: head.method, target: head.target, version: head.version, headers: head.headers)
    }

    /// CRLF after the start line, then `name: value\r\n` each, then CRLF.
    private static func appendFields(_ headers: HTTPHeaders, to out: inout [UInt8]) throws(HTTPHeadWriterError) {
        out.append(HTTPSyntax.cr)
        out.append(HTTPSyntax.lf)
        for field in headers {
            guard HTTPSyntax.isToken(field.name.utf8) else {
                throw HTTPHeadWriterError(reason: "field name \(String(reflecting: field.name)) is not a token")
            }
            let value = field.value.utf8
            guard value.allSatisfy(HTTPSyntax.isFieldValueByte) else {
                throw HTTPHeadWriterError(reason: "control character in the value of \(field.name)")
            }
            // Leading/trailing whitespace would be trimmed by the reader, so
            // writing it would not round-trip.
            if let first = value.first, let last = value.last, HTTPSyntax.isWhitespace(first) || HTTPSyntax.isWhitespace(last) {
                throw HTTPHeadWriterError(reason: "whitespace around the value of \(field.name)")
            }
            out.append(contentsOf: field.name.utf8)
            out.append(HTTPSyntax.colon)
            out.append(HTTPSyntax.space)
            out.append(contentsOf: value)
            out.append(HTTPSyntax.cr)
            out.append(HTTPSyntax.lf)
        }
        out.append(HTTPSyntax.cr)
        out.append(HTTPSyntax.lf)
    }
}
