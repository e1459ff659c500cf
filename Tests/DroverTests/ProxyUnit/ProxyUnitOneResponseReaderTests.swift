import Testing
@testable import HTTP
@testable import Proxy

/// Issue 14 item 7: one response reader. The proxy (HTTPHeadScanner +
/// ProxyResponseHead) and HTTPResponseParser (the CLI, the tests) find a
/// response head and read its status line with the same code, so what one
/// accepts the other accepts. Before, the parser read heads line by line
/// with a status-line rule of its own: the proxy forwarded a worker's
/// `http/1.1 200` and `HTTP/1.1 600`, which the parser refused, and the
/// parser refused a head after a stray CRLF that the proxy read.
@Suite struct ProxyUnitOneResponseReaderTests {
    static let heads: [(text: String, valid: Bool)] = [
        ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
        ("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", true),
        ("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", true),
        ("HTTP/1.1 503 \r\nContent-Length: 0\r\n\r\n", true),
        ("\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
        ("http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 600 High\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 999 Internal\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 200 O\u{7F}K\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 200 OK\r\nX-Ws : a\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 0\r\n\r\n", false),
    ]

    @Test(arguments: heads)
    func theProxyAndTheParserAgree(_ head: (text: String, valid: Bool)) {
        let proxy = ProxyUnit.response(head.text)
        var parser = HTTPResponseParser()
        var events: [HTTPResponseEvent] = []
        parser.parse(Array(head.text.utf8), into: &events)
        let parserAccepted = events.first?.head != nil
        #expect((proxy.response != nil) == head.valid, "proxy: \(proxy) for \(head.text.debugDescription)")
        #expect(parserAccepted == head.valid, "parser: \(events) for \(head.text.debugDescription)")
        if let response = proxy.response, let parsed = events.first?.head {
            #expect(response.status == parsed.status)
        }
    }
}
