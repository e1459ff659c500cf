import Config
import Control
import Supervision

/// `GET /` on the admin listener: the status for a person in a browser.
/// One self-contained HTML document (inline CSS, no JavaScript, no external
/// resources) that refreshes itself every two seconds. Serve as
/// `text/html; charset=utf-8`. Every value from the snapshot is escaped.
package enum StatusPage {
    package static let contentType = "text/html; charset=utf-8"
    package static let refreshSeconds = 2

    package static func render(_ snapshot: StatusSnapshot) -> String {
        let e = HTMLEscaping.escape
        let title = "drover \(snapshot.version) · pid \(snapshot.supervisorPid) · up \(DurationText.uptime(snapshot.uptimeSeconds))"
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="refresh" content="\(refreshSeconds)">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(e(title))</title>
            <style>\(css)</style>
            </head>
            <body>
            <header>
            <h1>drover</h1>
            <p class="meta">version \(e(snapshot.version)) · pid \(snapshot.supervisorPid) · up \(e(DurationText.uptime(snapshot.uptimeSeconds)))\
            \(snapshot.configPath.map { " · <code>\(e($0))</code>" } ?? "")</p>
            <p class="summary">\(e(summary(snapshot.processes)))</p>
            </header>

            """
        html += processTable(snapshot.processes)
        html += proxyTable(snapshot.proxies)
        html += "<footer>refreshes every \(refreshSeconds)s · <a href=\"/metrics\">metrics</a></footer>\n</body>\n</html>\n"
        return html
    }

    /// `3 processes: 2 RUNNING, 1 BACKOFF`, states in their declared order.
    static func summary(_ processes: [ProcessSnapshot]) -> String {
        let counts = ProcessState.allCases.compactMap { state -> String? in
            let count = processes.count(where: { $0.state == state })
            return count > 0 ? "\(count) \(state.rawValue)" : nil
        }
        let noun = processes.count == 1 ? "process" : "processes"
        return counts.isEmpty ? "no processes" : "\(processes.count) \(noun): " + counts.joined(separator: ", ")
    }

    static func processTable(_ processes: [ProcessSnapshot]) -> String {
        let e = HTMLEscaping.escape
        guard !processes.isEmpty else { return "<section><h2>Processes</h2><p class=\"empty\">No processes.</p></section>\n" }
        var html = """
            <section>
            <h2>Processes</h2>
            <table>
            <thead><tr><th>name</th><th>state</th><th>health</th><th class="n">pid</th><th class="n">uptime</th>\
            <th class="n">restarts</th><th class="n">in flight</th><th class="n">port</th><th>slot</th><th>description</th></tr></thead>
            <tbody>

            """
        for process in processes {
            let state = process.state.rawValue
            let health = process.runningHealth.map { "<span class=\"health \($0.rawValue)\">\($0.rawValue)</span>" } ?? dash
            html += "<tr>"
            html += "<td class=\"name\">\(e(process.name))</td>"
            html += "<td><span class=\"state \(state.lowercased())\">\(state)</span></td>"
            html += "<td>\(health)</td>"
            html += "<td class=\"n\">\(process.pid.map { String($0) } ?? dash)</td>"
            html += "<td class=\"n\">\(process.uptimeSeconds.map { e(DurationText.uptime($0)) } ?? dash)</td>"
            html += "<td class=\"n\">\(process.restarts)</td>"
            html += "<td class=\"n\">\(process.inflight)</td>"
            html += "<td class=\"n\">\(process.port.map { String($0) } ?? dash)</td>"
            html += "<td class=\"slot\">\(process.slot.map { e(slotText($0)) } ?? dash)</td>"
            html += "<td class=\"desc\">\(e(process.description))</td>"
            html += "</tr>\n"
        }
        return html + "</tbody>\n</table>\n</section>\n"
    }

    /// `0 · cores 2-3 · node 1 · gpu 1`: the slot index, then what it pins.
    static func slotText(_ slot: Slot) -> String {
        var parts = [String(slot.index)]
        if !slot.cores.isEmpty { parts.append("cores " + MachineShape.cpuListText(slot.cores)) }
        if let node = slot.node { parts.append("node \(node)") }
        if let gpu = slot.gpu { parts.append("gpu \(gpu)") }
        return parts.joined(separator: " · ")
    }

    static func proxyTable(_ proxies: [ProxySnapshot]) -> String {
        let e = HTMLEscaping.escape
        guard !proxies.isEmpty else { return "" }
        var html = """
            <section>
            <h2>Proxies</h2>
            <table>
            <thead><tr><th>name</th><th>listen</th><th>upstream</th><th class="n">ready</th><th class="n">requests</th><th class="n">5xx</th><th class="n">queued</th><th class="n">queue p99</th><th class="n">upstream p50 / p99</th><th class="n">retries</th></tr></thead>
            <tbody>

            """
        for proxy in proxies {
            // A pool with no ready worker answers every request with 503: say so in red.
            let level = proxy.readyWorkers == 0 ? "bad" : proxy.readyWorkers < proxy.totalWorkers ? "warn" : "good"
            html += "<tr><td class=\"name\">\(e(proxy.name))</td><td><code>\(e(proxy.listen))</code></td>"
            html += "<td>\(e(proxy.upstream))</td>"
            html += "<td class=\"n\"><span class=\"ready \(level)\">\(proxy.readyWorkers) / \(proxy.totalWorkers)</span></td>"
            if let traffic = proxy.traffic {
                let errors = traffic.requestsByStatus.filter { $0.status >= 500 }.reduce(0) { $0 + $1.count }
                html += "<td class=\"n\">\(traffic.requests)</td><td class=\"n\">\(errors)</td><td class=\"n\">\(traffic.queueLength)</td>"
                html += "<td class=\"n\">\(seconds(traffic.queueWait.quantile(0.99)))</td>"
                html += "<td class=\"n\">\(seconds(traffic.upstreamTime.quantile(0.5))) / \(seconds(traffic.upstreamTime.quantile(0.99)))</td>"
                html += "<td class=\"n\">\(traffic.retries)</td>"
            } else {
                html += String(repeating: "<td class=\"n\">\(dash)</td>", count: 6)
            }
            html += "</tr>\n"
        }
        return html + "</tbody>\n</table>\n</section>\n"
    }

    static let dash = "<span class=\"none\">–</span>"

    /// A histogram bucket bound as `≤ 25 ms` / `≤ 2.5 s`.
    static func seconds(_ value: Double?) -> String {
        guard let value else { return dash }
        if !value.isFinite { return "&gt; 60 s" }
        return value < 1 ? "≤ \(Int((value * 1000).rounded())) ms" : "≤ \(value) s"
    }

    /// One colour per state, supervisor-dashboard conventions: green running,
    /// blue starting, amber transitions and backoff, red fatal, grey at rest.
    static let css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:24px 32px;color:#1d2330;background:#f6f7f9}
        h1{font-size:22px;margin:0}h2{font-size:15px;margin:28px 0 8px;color:#4a5263;text-transform:uppercase;letter-spacing:.05em}
        .meta,.summary{margin:4px 0;color:#5b6374}code{font:12px ui-monospace,Menlo,Consolas,monospace}
        table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e0e3e8;border-radius:6px;overflow:hidden}
        th,td{padding:6px 10px;text-align:left;border-bottom:1px solid #eef0f3;white-space:nowrap}
        th{font-size:12px;font-weight:600;color:#5b6374;background:#fafbfc}tbody tr:hover{background:#f9fafb}
        td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.name{font-family:ui-monospace,Menlo,Consolas,monospace}
        td.desc{white-space:normal;color:#3d4454}.none{color:#b0b6c0}
        .state,.health,.ready{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
        .state.running,.health.ready,.ready.good{background:#e3f6e8;color:#17723a}
        .state.starting,.health.starting{background:#e4eefc;color:#1f5fbf}
        .state.backoff,.state.stopping,.health.draining,.ready.warn{background:#fdf1dc;color:#9a5b00}
        .state.fatal,.health.unhealthy,.ready.bad{background:#fde4e4;color:#b42323}
        .state.stopped,.state.exited{background:#eceef1;color:#5b6374}
        .empty{color:#5b6374}footer{margin-top:24px;font-size:12px;color:#8a91a0}footer a{color:inherit}
        """
}
