import Foundation
import Testing

/// The admin listener: probes, metrics, the status page, and the token rules.
@Suite struct AdminListenerTests {
    static func config(port: Int, token: Bool) -> String {
        """
        [supervisord]
        admin_listen = 127.0.0.1:\(port)
        \(token ? "admin_token_file = %(here)s/token" : "")

        [program:web]
        command = \(Binaries.demoWorker) --port %(port)s
        process_name = web_%(process_num)02d
        numprocs = 2
        port = \(port + 10)
        startsecs = 0

        [program:spare]
        command = /bin/sleep 60
        autostart = false

        [proxy:front]
        listen = 127.0.0.1:\(port + 20)
        upstream = web
        """
    }

    @Test func probesMetricsAndStatusPage() throws {
        let dir = TempDir("admin")
        defer { dir.cleanup() }
        let port = 24800
        let drover = try DroverHarness(config: Self.config(port: port, token: false), in: dir)
        defer { drover.terminate() }
        drover.waitForLine("web:web_01 RUNNING")
        #expect(waitUntil { RawHTTP.get(port: port, "/healthz")?.status == 200 })
        // Ready once a proxied worker's port accepts (it has no health_path).
        #expect(waitUntil { RawHTTP.get(port: port, "/readyz")?.status == 200 })

        let metrics = RawHTTP.get(port: port, "/metrics")
        #expect(metrics?.status == 200)
        #expect(metrics?.head.lowercased().contains("content-type: text/plain; version=0.0.4") == true)
        let body = metrics?.body ?? ""
        #expect(body.contains("# TYPE drover_process_restarts_total counter"))
        #expect(body.contains(#"drover_process_state{process="web:web_00""#))
        #expect(body.contains(#"state="RUNNING"} 1"#))
        #expect(body.contains("drover_process_uptime_seconds{"))
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.range(of: #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?[0-9.e+-]+$"#, options: .regularExpression) != nil, "\(line)")
        }

        let page = RawHTTP.get(port: port, "/")
        #expect(page?.status == 200)
        #expect(page?.body.contains("<table") == true)
        #expect(page?.body.contains("web:web_00") == true)
        #expect(page?.body.contains("http-equiv=\"refresh\"") == true)

        // GETs of the API are open; changes need a token, and none is configured.
        #expect(RawHTTP.get(port: port, "/v1/status")?.status == 200)
        #expect(RawHTTP.post(port: port, "/v1/processes/web/stop")?.status == 403)

        // Stop the pool (through the default ./drover.sock): no ready worker, /readyz says so.
        let stopped = try runCommand(Binaries.drover, ["stop", "web", "-s", dir.file("drover.sock")])
        #expect(stopped.status == 0, "\(stopped.stdout)\(stopped.stderr)")
        #expect(RawHTTP.get(port: port, "/readyz")?.status == 503)
    }

    @Test func tokenRules() throws {
        let dir = TempDir("token")
        defer { dir.cleanup() }
        dir.write("token", "s3cret-token-value\n")
        chmod(dir.file("token"), 0o600)
        let port = 24850
        let drover = try DroverHarness(config: Self.config(port: port, token: true), in: dir)
        defer { drover.terminate() }
        drover.waitForLine("web:web_01 RUNNING")
        #expect(waitUntil { RawHTTP.get(port: port, "/healthz")?.status == 200 })
        let none = RawHTTP.post(port: port, "/v1/processes/web:web_00/stop")
        #expect(none?.status == 401)
        #expect(none?.head.contains("WWW-Authenticate") == true)
        #expect(RawHTTP.post(port: port, "/v1/processes/web:web_00/stop", headers: ["Authorization: Bearer wrong"])?.status == 401)
        #expect(RawHTTP.post(port: port, "/v1/processes/web:web_00/stop", headers: ["Authorization: Bearer s3cret-token-valu"])?.status == 401)
        #expect(RawHTTP.post(port: port, "/v1/processes/web:web_00/stop", headers: ["Authorization: Basic czNjcmV0"])?.status == 401)
        #expect(drover.lines(containing: "web:web_00 STOPPING").isEmpty, "nothing changed without the token")
        let good = RawHTTP.post(port: port, "/v1/processes/web:web_00/stop", headers: ["Authorization: Bearer s3cret-token-value"])
        #expect(good?.status == 200)
        drover.waitForLine("web:web_00 STOPPED")
        #expect(RawHTTP.get(port: port, "/v1/status")?.status == 200, "reads need no token")
        // Garbage on the admin listener: 4xx, listener unaffected.
        #expect(RawHTTP.exchange(port: port, "\u{1}\u{2}garbage\r\n\r\n")?.status == 400)
        #expect(RawHTTP.exchange(port: port, "GET / HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "b", count: 40_000) + "\r\n\r\n")?.status == 431)
        #expect(RawHTTP.get(port: port, "/healthz")?.status == 200)
    }
}
