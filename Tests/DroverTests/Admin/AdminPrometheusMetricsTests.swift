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

/// A small checker of the text exposition format's line grammar: every line
/// is HELP, TYPE or a sample; samples follow their family's TYPE; families
/// are contiguous and declared once; label values are properly escaped.
struct ExpositionChecker {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: String
    }

    var samples: [Sample] = []
    var types: [String: String] = [:]
    var problems: [String] = []

    init(_ text: String) {
        guard text.hasSuffix("\n") else { problems.append("no final newline"); return }
        var declared: [String] = []
        var helped: Set<String> = []
        var current: String?
        for line in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("# HELP ") {
                let rest = line.dropFirst(7)
                guard let space = rest.firstIndex(of: " ") else { problems.append("HELP without text: \(line)"); continue }
                let name = String(rest[..<space])
                if !Self.isMetricName(name) || !helped.insert(name).inserted { problems.append("bad or repeated HELP: \(line)") }
            } else if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ").map(String.init)
                guard parts.count == 2, Self.isMetricName(parts[0]),
                      ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[1]) else {
                    problems.append("bad TYPE: \(line)"); continue
                }
                if declared.contains(parts[0]) { problems.append("TYPE repeated: \(line)") }
                declared.append(parts[0])
                types[parts[0]] = parts[1]
                current = parts[0]
            } else if line.hasPrefix("#") || line.isEmpty {
                problems.append("unexpected line: \(line.debugDescription)")
            } else if let sample = Self.parseSample(line) {
                // A histogram's samples are its name with _bucket, _sum, _count.
                let family = current.flatMap { types[$0] == "histogram" ? $0 : nil }
                let ofHistogram = family.map { f in ["_bucket", "_sum", "_count"].contains { sample.name == f + $0 } } ?? false
                if sample.name != current && !ofHistogram { problems.append("sample outside its family: \(line)") }
                samples.append(sample)
            } else {
                problems.append("malformed sample: \(line.debugDescription)")
            }
        }
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || $0 == ":" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }

    /// `name{label="value",...} number` with the format's escapes decoded.
    static func parseSample(_ line: String) -> Sample? {
        var scalars = Substring(line).unicodeScalars[...]
        var name = ""
        while let c = scalars.first, c != "{" && c != " " { name.unicodeScalars.append(c); scalars.removeFirst() }
        guard isMetricName(name) else { return nil }
        var labels: [String: String] = [:]
        if scalars.first == "{" {
            scalars.removeFirst()
            while scalars.first != "}" {
                var label = ""
                while let c = scalars.first, c != "=" { label.unicodeScalars.append(c); scalars.removeFirst() }
                guard isMetricName(label), !label.contains(":"), scalars.popFirst() == "=", scalars.popFirst() == "\"" else { return nil }
                var value = ""
                while true {
                    guard let c = scalars.popFirst() else { return nil }
                    if c == "\"" { break }
                    if c == "\n" { return nil }
                    if c == "\\" {
                        switch scalars.popFirst() {
                        case "\\": value += "\\"
                        case "\"": value += "\""
                        case "n": value += "\n"
                        default: return nil
                        }
                    } else {
                        value.unicodeScalars.append(c)
                    }
                }
                guard labels.updateValue(value, forKey: label) == nil else { return nil }
                if scalars.first == "," { scalars.removeFirst() } else if scalars.first != "}" { return nil }
            }
            scalars.removeFirst()
        }
        guard scalars.popFirst() == " " else { return nil }
        let value = String(String.UnicodeScalarView(scalars))
        guard Double(value) != nil || ["+Inf", "-Inf", "NaN"].contains(value) else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }

    func values(_ name: String) -> [Sample] { samples.filter { $0.name == name } }

    func value(_ name: String, _ labels: [String: String] = [:]) -> String? {
        samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
    }
}

@Suite struct AdminPrometheusMetricsTests {
    let snapshot = AdminFixtures.snapshot([
        AdminFixtures.process("web:web_00", .running, pid: 4121, uptime: 723.5, restarts: 2, inflight: 1, rss: 52_428_800),
        AdminFixtures.process("web:web_01", .backoff, exit: .exited(1), retryIn: 2, restarts: 5),
        AdminFixtures.process("web:web_02", .running, health: .starting, pid: 4122, uptime: 3),
    ], proxies: [ProxySnapshot(name: "api", listen: ":8080", upstream: "web", readyWorkers: 1, totalWorkers: 3)])

    @Test func adminMetricsFollowTheExpositionGrammar() {
        let checker = ExpositionChecker(PrometheusMetrics.render(snapshot))
        #expect(checker.problems == [])
        #expect(checker.types["drover_process_restarts_total"] == "counter")
        #expect(checker.types["drover_up"] == "gauge")
        // Every family that is declared has HELP too.
        let text = PrometheusMetrics.render(snapshot)
        for name in checker.types.keys { #expect(text.contains("# HELP \(name) "), "\(name) has no HELP") }
    }

    /// The clients' patience is a gauge once they have shown one, absent
    /// before (and `null` in status --json).
    @Test func adminClientPatienceGauge() throws {
        var proxy = ProxySnapshot(name: "api", listen: ":8080", upstream: "web", readyWorkers: 1, totalWorkers: 1)
        var traffic = ProxyMetrics().snapshot
        proxy.traffic = traffic
        let before = PrometheusMetrics.render(AdminFixtures.snapshot([], proxies: [proxy]))
        #expect(!before.contains("drover_proxy_client_patience_seconds"))
        traffic.clientPatienceSeconds = 1.0
        proxy.traffic = traffic
        let after = ExpositionChecker(PrometheusMetrics.render(AdminFixtures.snapshot([], proxies: [proxy])))
        #expect(after.problems == [])
        #expect(after.value("drover_proxy_client_patience_seconds", ["proxy": "api"]) == "1")
    }

    @Test func adminSupervisorMetrics() {
        let checker = ExpositionChecker(PrometheusMetrics.render(snapshot))
        #expect(checker.value("drover_up") == "1")
        #expect(checker.value("drover_uptime_seconds") == "3723.9")
        #expect(checker.value("drover_build_info", ["version": "0.1.0"]) == "1")
        #expect(checker.value("drover_processes", ["state": "RUNNING"]) == "2")
        #expect(checker.value("drover_processes", ["state": "BACKOFF"]) == "1")
        #expect(checker.value("drover_processes", ["state": "FATAL"]) == "0")
        #expect(checker.values("drover_processes").count == ProcessState.allCases.count)
        #expect(checker.value("drover_proxy_ready_workers", ["proxy": "api", "upstream": "web"]) == "1")
        #expect(checker.value("drover_proxy_workers", ["proxy": "api"]) == "3")
    }

    @Test func adminPerProcessMetrics() {
        let checker = ExpositionChecker(PrometheusMetrics.render(snapshot))
        let web00 = ["process": "web:web_00", "group": "web", "program": "web"]
        #expect(checker.value("drover_process_state", web00.merging(["state": "RUNNING"]) { $1 }) == "1")
        #expect(checker.value("drover_process_state", web00.merging(["state": "STOPPED"]) { $1 }) == "0")
        #expect(checker.values("drover_process_state").count == 3 * ProcessState.allCases.count, "one series per state per process")
        #expect(checker.values("drover_process_state").filter { $0.value == "1" }.count == 3, "exactly one current state each")
        #expect(checker.value("drover_process_state", ["process": "web:web_01", "state": "BACKOFF"]) == "1")
        #expect(checker.value("drover_process_ready", web00) == "1")
        #expect(checker.value("drover_process_ready", ["process": "web:web_01"]) == "0")
        #expect(checker.value("drover_process_ready", ["process": "web:web_02"]) == "0", "RUNNING but still starting is not ready")
        #expect(checker.value("drover_process_restarts_total", ["process": "web:web_01"]) == "5")
        #expect(checker.value("drover_process_uptime_seconds", web00) == "723.5")
        #expect(checker.value("drover_process_uptime_seconds", ["process": "web:web_01"]) == nil, "no process, no uptime")
        #expect(checker.value("drover_process_resident_memory_bytes", web00) == "52428800")
        #expect(checker.values("drover_process_resident_memory_bytes").count == 1, "only where measured")
        #expect(checker.value("drover_process_inflight", web00) == "1")
        #expect(checker.value("drover_process_inflight", ["process": "web:web_02"]) == "0")
    }

    @Test func adminLabelValuesAreEscaped() {
        let hostile = "we\"ird\\name\nx"
        let process = ProcessSnapshot(name: "g:" + hostile, group: "g", program: "p\"", process: hostile, state: .running, health: .ready,
                                      pid: 1, uptimeSeconds: 1)
        let text = PrometheusMetrics.render(AdminFixtures.snapshot([process]))
        #expect(text.contains(#"process="g:we\"ird\\name\nx""#))
        #expect(text.contains(#"program="p\"""#))
        let checker = ExpositionChecker(text)
        #expect(checker.problems == [])
        #expect(checker.value("drover_process_ready", ["process": "g:" + hostile, "program": "p\""]) == "1", "escapes decode back")
        #expect(MetricsText.escapeHelp("a\\b\nc\"") == "a\\\\b\\nc\"")
    }

    @Test func adminNumbersUseTheFormatsSpelling() {
        #expect(MetricsText.format(3) == "3")
        #expect(MetricsText.format(-2) == "-2")
        #expect(MetricsText.format(0.25) == "0.25")
        #expect(MetricsText.format(.nan) == "NaN")
        #expect(MetricsText.format(.infinity) == "+Inf")
        #expect(MetricsText.format(-.infinity) == "-Inf")
        #expect(Double(MetricsText.format(1e300)) == 1e300)
    }

    @Test func adminEmptySupervisorStillRendersValidMetrics() {
        let text = PrometheusMetrics.render(AdminFixtures.snapshot([]))
        let checker = ExpositionChecker(text)
        #expect(checker.problems == [])
        #expect(checker.value("drover_up") == "1")
        #expect(!text.contains("drover_proxy_"), "no proxy families without proxies")
    }

    @Test func adminCheckerRejectsBrokenLines() {
        // The checker itself must catch what it is there to catch.
        #expect(!ExpositionChecker("# TYPE a gauge\na{x=\"1} 1\n").problems.isEmpty)
        #expect(!ExpositionChecker("# TYPE a gauge\na{x=\"a\nb\"} 1\n").problems.isEmpty)
        #expect(!ExpositionChecker("# TYPE a gauge\na 1.2.3\n").problems.isEmpty)
        #expect(!ExpositionChecker("a 1\n").problems.isEmpty, "sample before its TYPE")
        #expect(!ExpositionChecker("# TYPE a gauge\na 1").problems.isEmpty, "no final newline")
        #expect(ExpositionChecker("# HELP a x\n# TYPE a gauge\na{b=\"c\\\"\"} 1\n").problems == [])
    }
}
