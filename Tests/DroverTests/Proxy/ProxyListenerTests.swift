import Foundation
import Testing

/// The proxy's listen address forms, and that it serves only the workers.
@Suite struct ProxyListenerTests {
    @Test func unixSocketListener() throws {
        let proxy = try ProxyFixture("unix", .init(listen: "unix:{DIR}/proxy.sock"))
        let path = proxy.dir.file("proxy.sock")
        #expect(waitUntil(timeout: 10) { WireClient.unix(path)?.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n").status == 200 },
                "the proxy answers on unix:\(path)")
        let client = try #require(WireClient.unix(path))
        let r = client.exchange("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
        #expect(r.status == 200 && Echoed(r).body == "hi" && Echoed(r).has("Via"), "\(r.summary)")
        #expect(client.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n").status == 200, "keep-alive on the unix socket")
        #expect(WireClient.tcp(proxy.listenPort) == nil, "no TCP listener besides")
    }

    /// LISTEN sockets on `port` from /proc/net/tcp and tcp6: their local addresses in hex.
    static func listeningAddresses(port: Int) -> [String] {
        let hexPort = String(format: "%04X", port)
        var out: [String] = []
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 3, fields[3] == "0A" else { continue }
                let local = fields[1].split(separator: ":")
                if local.count == 2 && local[1] == hexPort { out.append(String(local[0])) }
            }
        }
        return out
    }

    @Test func portOnlyListensOnAllInterfaces() throws {
        let proxy = try ProxyFixture("anyaddr", .init(listen: ":{L}"))
        let port = proxy.listenPort
        #expect(waitUntil(timeout: 10) { proxy.get("/pid", timeout: 2).status == 200 }, "reachable on 127.0.0.1")
        let addresses = Self.listeningAddresses(port: port)
        #expect(addresses.contains { $0.allSatisfy { $0 == "0" } }, "bound to the wildcard address, not one interface: \(addresses)")
        if let other = nonLoopbackIPv4().first {
            let r = WireClient.tcp(port, host: other)?.exchange("GET /pid HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            #expect(r?.status == 200, "reachable on \(other): \(r?.summary ?? "connect failed")")
        }
    }

    @Test func noControlOrAdminPathThroughTheProxy() throws {
        let proxy = try ProxyFixture("nocontrol", .init(supervisord: "admin_listen = 127.0.0.1:{A}"))
        for target in ["/v1/status", "/healthz", "/readyz", "/metrics", "/v1/processes/w/stop"] {
            for method in ["GET", "POST"] {
                let r = proxy.send("\(method) \(target) HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                #expect(r.status == 404 && r.text.contains("no such endpoint"),
                        "\(method) \(target) reaches the worker (its 404), not drover:\n\(r.summary)")
            }
        }
        let shutdown = proxy.send("POST /v1/shutdown HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        #expect(shutdown.status == 404 && shutdown.text.contains("no such endpoint"), "\(shutdown.summary)")
        #expect(proxy.readyWorkers().count == 2 && proxy.drover.process.isRunning, "nothing was stopped")
    }
}
