import Testing
@testable import Admin
@testable import CLI
@testable import Config
@testable import Control
@testable import HTTP
@testable import HTTPServing
@testable import JSON
@testable import Logs
@testable import Proxy
@testable import Runtime
@testable import Supervision
@testable import System

@Suite struct AdminStatusPageTests {
    let snapshot = AdminFixtures.snapshot([
        AdminFixtures.process("web:web_00", .running, pid: 4121, uptime: 723.5, restarts: 2, inflight: 1, port: 8001),
        AdminFixtures.process("web:web_01", .backoff, exit: .exited(1), retryIn: 2, restarts: 5, port: 8002),
        AdminFixtures.process("web:web_02", .fatal, spawnError: "no such file"),
    ], proxies: [ProxySnapshot(name: "api", listen: "127.0.0.1:8080", upstream: "web", readyWorkers: 1, totalWorkers: 3)])

    /// The rows of the process table, one string per `<tr>` in the body.
    func rows(_ html: String) -> [String] {
        guard let body = html.range(of: "<tbody>") , let end = html.range(of: "</tbody>") else { return [] }
        return html[body.upperBound..<end.lowerBound].split(separator: "\n").map(String.init).filter { $0.hasPrefix("<tr>") }
    }

    @Test func adminPageIsASelfRefreshingDocument() {
        let html = StatusPage.render(snapshot)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<meta http-equiv=\"refresh\" content=\"2\">"))
        #expect(html.contains("<meta charset=\"utf-8\">"))
        #expect(html.contains("<title>drover 0.1.0 · pid 1 · up 1:02:03</title>"))
        #expect(html.contains("<style>"))
        #expect(!html.lowercased().contains("<script"), "no JavaScript")
        #expect(!html.contains("http://") && !html.contains("https://"), "no external resources")
        #expect(html.hasSuffix("</html>\n"))
        #expect(html.contains("3 processes: 1 RUNNING, 1 BACKOFF, 1 FATAL"))
        #expect(html.contains("<code>/etc/drover/supervisor.conf</code>"))
    }

    @Test func adminPageHasARowPerProcessWithItsColumns() {
        let table = rows(StatusPage.render(snapshot))
        #expect(table.count == 3)
        let running = table[0]
        #expect(running.contains("<td class=\"name\">web:web_00</td>"))
        #expect(running.contains("<span class=\"state running\">RUNNING</span>"))
        #expect(running.contains("<span class=\"health ready\">ready</span>"))
        #expect(running.contains("<td class=\"n\">4121</td>"))
        #expect(running.contains("<td class=\"n\">0:12:03</td>"))
        #expect(running.contains("<td class=\"n\">2</td>"))
        #expect(running.contains("<td class=\"n\">8001</td>"))
        #expect(running.contains("pid 4121, uptime 0:12:03, ready, 1 in flight"))
        #expect(table[1].contains("<span class=\"state backoff\">BACKOFF</span>"))
        #expect(table[1].contains("retry in 2.0s"))
        #expect(!table[1].contains("class=\"health"), "no health flag when not RUNNING")
        #expect(table[2].contains("<span class=\"state fatal\">FATAL</span>"))
        #expect(table[2].contains("gave up: spawn error: no such file"))
    }

    @Test func adminEveryStateHasAColour() {
        let css = StatusPage.css
        for state in ProcessState.allCases {
            #expect(css.contains(".state.\(state.rawValue.lowercased())"), "\(state) has no colour")
        }
        for health in [HealthFlag.starting, .ready, .unhealthy, .draining] {
            #expect(css.contains(".health.\(health.rawValue)"), "\(health) has no colour")
        }
    }

    @Test func adminPageShowsProxies() {
        let html = StatusPage.render(snapshot)
        #expect(html.contains("<h2>Proxies</h2>"))
        #expect(html.contains("<code>127.0.0.1:8080</code>"))
        #expect(html.contains("<span class=\"ready warn\">1 / 3</span>"))
        let down = AdminFixtures.snapshot([], proxies: [ProxySnapshot(name: "p", listen: ":1", upstream: "u", readyWorkers: 0, totalWorkers: 2)])
        #expect(StatusPage.render(down).contains("<span class=\"ready bad\">0 / 2</span>"))
        #expect(!StatusPage.render(AdminFixtures.snapshot([])).contains("Proxies"))
        #expect(StatusPage.render(AdminFixtures.snapshot([])).contains("No processes."))
    }

    @Test func adminEverythingFromTheSnapshotIsEscaped() {
        let evil = "<script>alert('x')</script>"
        var process = AdminFixtures.process("g:" + evil, .backoff, exit: .exited(1), retryIn: 1, spawnError: "\"&" + evil)
        process.group = evil
        let snapshot = StatusSnapshot(supervisorPid: 9, version: "1.0<b>", startedWallNs: 0, uptimeSeconds: 1,
                                      configPath: "/tmp/\"><script>x</script>", processes: [process],
                                      proxies: [ProxySnapshot(name: evil, listen: evil, upstream: evil, readyWorkers: 0, totalWorkers: 1)])
        let html = StatusPage.render(snapshot)
        #expect(!html.contains("<script"))
        #expect(!html.contains("<b>"))
        #expect(html.contains("g:&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        #expect(html.contains("spawn error: &quot;&amp;&lt;script&gt;"))
        #expect(html.contains("/tmp/&quot;&gt;&lt;script&gt;x&lt;/script&gt;"))
        #expect(HTMLEscaping.escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&#39;f")
        #expect(HTMLEscaping.escape("日本 ok") == "日本 ok")
    }
}
