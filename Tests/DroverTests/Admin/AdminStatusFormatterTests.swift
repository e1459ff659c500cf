import Glibc
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

/// Test fixtures: a snapshot of one process with everything defaulted.
enum AdminFixtures {
    static let exitNs: Int64 = 1_795_000_000_123_456_789
    static let startNs: Int64 = 1_794_999_000_000_000_000

    static func process(_ name: String, _ state: ProcessState, health: HealthFlag = .ready,
                        pid: Int32? = nil, uptime: Double? = nil, started: Int64? = startNs, exited: Int64? = nil,
                        exit: System.ExitStatus? = nil, retryIn: Double? = nil, spawnError: String? = nil,
                        restarts: Int = 0, inflight: Int = 0, rss: Int? = nil, port: Int? = nil) -> ProcessSnapshot {
        let parts = name.split(separator: ":", maxSplits: 1).map(String.init)
        let group = parts.first ?? name
        let process = parts.count > 1 ? parts[1] : name
        return ProcessSnapshot(name: name, group: group, program: group, process: process, state: state, health: health,
                               pid: pid, uptimeSeconds: uptime, startedWallNs: started, exitedWallNs: exited,
                               lastExit: exit, retryInSeconds: retryIn, spawnError: spawnError, restarts: restarts,
                               inflight: inflight, rssBytes: rss, port: port)
    }

    static func snapshot(_ processes: [ProcessSnapshot], proxies: [ProxySnapshot] = []) -> StatusSnapshot {
        StatusSnapshot(supervisorPid: 1, version: "0.1.0", startedWallNs: startNs, uptimeSeconds: 3723.9,
                       configPath: "/etc/drover/supervisor.conf", processes: processes, proxies: proxies)
    }
}

@Suite struct AdminStatusFormatterTests {
    let at = WallClock.statusDate(AdminFixtures.exitNs)

    /// supervisorctl's `%b %d %I:%M %p`: `Dec 07 07:25 PM`, whatever the hour.
    @Test func adminStatusDateIsSupervisorctls() {
        #expect(at.range(of: #"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-3]\d (0\d|1[0-2]):[0-5]\d (AM|PM)$"#,
                         options: .regularExpression) != nil, "\(at)")
        // Noon and midnight are 12, not 00, in a 12-hour clock (in UTC, whatever TZ the test runs in).
        setenv("TZ", "UTC", 1)
        tzset()
        defer { unsetenv("TZ"); tzset() }
        #expect(WallClock.statusDate(1_796_644_800_000_000_000) == "Dec 07 12:00 PM")   // 2026-12-07T12:00:00Z
        #expect(WallClock.statusDate(1_796_601_600_000_000_000) == "Dec 07 12:00 AM")   // 2026-12-07T00:00:00Z
        #expect(WallClock.statusDate(1_796_689_500_000_000_000) == "Dec 08 12:25 AM")   // 2026-12-08T00:25:00Z
        #expect(WallClock.statusDate(1_767_300_300_000_000_000) == "Jan 01 08:45 PM")   // 2026-01-01T20:45:00Z
    }

    @Test func adminLinesMatchTheSpecExample() {
        let lines = StatusFormatter.lines([
            AdminFixtures.process("web:web_00", .running, pid: 4121, uptime: 723.9, inflight: 1),
            AdminFixtures.process("web:web_01", .backoff, exited: AdminFixtures.exitNs, exit: .exited(1), retryIn: 2),
        ])
        #expect(lines == [
            "web:web_00                       RUNNING   pid 4121, uptime 0:12:03, ready, 1 in flight",
            "web:web_01                       BACKOFF   exited with 1 at \(at), retry in 2.0s",
        ])
    }

    @Test func adminColumnsAlignToTheLongestName() {
        let lines = StatusFormatter.lines([
            AdminFixtures.process("a:a", .stopping, pid: 7),
            AdminFixtures.process("model:model_long_name", .stopped, started: nil),
            AdminFixtures.process("web:web_1", .fatal, spawnError: "no such file"),
        ])
        #expect(lines == [
            "a                                STOPPING  pid 7, stopping",
            "model:model_long_name            STOPPED   Not started",
            "web:web_1                        FATAL     gave up: spawn error: no such file",
        ])
        // Every description starts in the same column: supervisorctl's, at least 30 + 3 + 10.
        let descriptionColumn = 30 + 3 + 10
        for line in lines {
            let index = line.index(line.startIndex, offsetBy: descriptionColumn)
            #expect(line[line.index(before: index)] == " " && line[index] != " ", "misaligned: \(line)")
        }
    }

    @Test func adminRowsFromJSONFormatTheSame() throws {
        let processes = [
            AdminFixtures.process("web:web_00", .running, pid: 4121, uptime: 5, inflight: 0),
            AdminFixtures.process("longer:longer_01", .exited, exited: AdminFixtures.exitNs, exit: .exited(0)),
        ]
        let document = try JSONValue.parse(AdminFixtures.snapshot(processes).json.json)
        let rows = try #require(StatusFormatter.rows(statusJSON: document))
        #expect(StatusFormatter.lines(rows) == StatusFormatter.lines(processes))
        #expect(StatusFormatter.rows(statusJSON: ["pid": 1]) == nil)
        #expect(StatusFormatter.render(processes) == StatusFormatter.lines(processes).map { $0 + "\n" }.joined())
        #expect(StatusFormatter.render([]) == "")
    }

    @Test func adminEmptyDescriptionLeavesNoTrailingSpaces() {
        let pad = String(repeating: " ", count: 30)
        #expect(StatusFormatter.lines([StatusRow(name: "x:y", state: "RUNNING", description: "")]) == ["x:y" + pad + "RUNNING"])
        // An unknown long state from a newer daemon still keeps a gap.
        #expect(StatusFormatter.lines([StatusRow(name: "x:y", state: "SOMETHINGNEW", description: "d")]) == ["x:y" + pad + "SOMETHINGNEW d"])
        // A name longer than 30 widens the column to itself plus three.
        let long = String(repeating: "n", count: 40)
        #expect(StatusFormatter.lines([StatusRow(name: long, state: "RUNNING", description: "d")]) == [long + "   RUNNING   d"])
    }

    /// supervisorctl's make_namespec: `cron`, not `cron:cron`; and its order.
    @Test func adminStandaloneNamesAndNameOrder() {
        let rows = StatusFormatter.sortedByName([
            StatusRow(name: "web:web_10", state: "RUNNING", description: ""),
            StatusRow(name: "web:web_2", state: "RUNNING", description: ""),
            StatusRow(name: "cron:cron", state: "RUNNING", description: ""),
            StatusRow(name: "api:api_00", state: "RUNNING", description: ""),
        ])
        #expect(rows.map(\.name) == ["api:api_00", "cron", "web:web_10", "web:web_2"])
        #expect(NameSelector.displayName("cron:cron") == "cron" && NameSelector.displayName("a:b") == "a:b")
    }

    @Test func adminRunningDescriptions() {
        #expect(AdminFixtures.process("web:web_00", .running, pid: 1, uptime: 0).description == "pid 1, uptime 0:00:00, ready")
        #expect(AdminFixtures.process("web:web_00", .running, health: .starting, pid: 2, uptime: 59.99).description
                == "pid 2, uptime 0:00:59, starting")
        #expect(AdminFixtures.process("web:web_00", .running, health: .unhealthy, pid: 3, uptime: 3600).description
                == "pid 3, uptime 1:00:00, unhealthy")
        #expect(AdminFixtures.process("web:web_00", .running, health: .draining, pid: 4, uptime: 86_400 + 3 * 3600 + 245, inflight: 3).description
                == "pid 4, uptime 1 day, 3:04:05, draining, 3 in flight")
        #expect(AdminFixtures.process("web:web_00", .running, pid: 5, uptime: 2 * 86_400 + 11_045).description
                == "pid 5, uptime 2 days, 3:04:05, ready")
    }

    @Test func adminStartingAndStoppingDescriptions() {
        #expect(AdminFixtures.process("web:web_00", .starting, pid: 4121, uptime: 1).description == "pid 4121, starting")
        #expect(AdminFixtures.process("web:web_00", .stopping, pid: 4121, inflight: 2).description == "pid 4121, stopping, 2 in flight")
        #expect(AdminFixtures.process("web:web_00", .stopping, pid: 4121).description == "pid 4121, stopping")
    }

    @Test func adminBackoffDescriptions() {
        #expect(AdminFixtures.process("web:web_00", .backoff, exited: AdminFixtures.exitNs, exit: .exited(1), retryIn: 1.96).description
                == "exited with 1 at \(at), retry in 2.0s")
        #expect(AdminFixtures.process("web:web_00", .backoff, exited: AdminFixtures.exitNs, exit: .signaled(SIGKILL, coreDumped: false), retryIn: 0.25).description
                == "killed by SIGKILL at \(at), retry in 0.3s")
        #expect(AdminFixtures.process("web:web_00", .backoff, exit: .exited(1), retryIn: 4, spawnError: "/bin/nope: No such file or directory").description
                == "spawn error: /bin/nope: No such file or directory, retry in 4.0s")
        #expect(AdminFixtures.process("web:web_00", .backoff, exited: AdminFixtures.exitNs, exit: .exited(1), retryIn: -1).description
                == "exited with 1 at \(at), retry in 0.0s")
    }

    @Test func adminExitedAndFatalDescriptions() {
        #expect(AdminFixtures.process("web:web_00", .exited, exited: AdminFixtures.exitNs, exit: .exited(0)).description == "exited with 0 at \(at)")
        #expect(AdminFixtures.process("web:web_00", .exited, exited: AdminFixtures.exitNs, exit: .signaled(SIGTERM, coreDumped: false)).description
                == "killed by SIGTERM at \(at)")
        #expect(AdminFixtures.process("web:web_00", .exited, exited: AdminFixtures.exitNs, exit: .signaled(SIGSEGV, coreDumped: true)).description
                == "killed by SIGSEGV (core dumped) at \(at)")
        #expect(AdminFixtures.process("web:web_00", .fatal, exited: AdminFixtures.exitNs, exit: .exited(2)).description == "gave up: exited with 2 at \(at)")
        #expect(AdminFixtures.process("web:web_00", .fatal, spawnError: "permission denied").description == "gave up: spawn error: permission denied")
    }

    @Test func adminStoppedDescriptions() {
        #expect(AdminFixtures.process("web:web_00", .stopped, started: nil).description == "Not started")
        #expect(AdminFixtures.process("web:web_00", .stopped, exited: AdminFixtures.exitNs, exit: .signaled(SIGTERM, coreDumped: false)).description
                == at, "supervisorctl dates a stop and says nothing else")
    }

    @Test func adminDurationText() {
        #expect(DurationText.uptime(0) == "0:00:00")
        #expect(DurationText.uptime(-5) == "0:00:00")
        #expect(DurationText.uptime(.nan) == "0:00:00")
        #expect(DurationText.uptime(86_399.9) == "23:59:59")
        #expect(DurationText.uptime(86_400) == "1 day, 0:00:00")
        #expect(DurationText.uptime(10 * 86_400 + 61) == "10 days, 0:01:01")
        #expect(DurationText.tenths(2) == "2.0s")
        #expect(DurationText.tenths(0.04) == "0.0s")
        #expect(DurationText.tenths(12.35) == "12.4s" || DurationText.tenths(12.35) == "12.3s")
        #expect(DurationText.tenths(30) == "30.0s")
    }

    @Test func adminProcessJSONHasEveryKey() throws {
        let running = AdminFixtures.process("web:web_00", .running, pid: 4121, uptime: 723.25, started: 1_700_000_000_123_999_999,
                                            restarts: 2, inflight: 1, rss: 52_428_800, port: 8001)
        let json = running.json
        #expect(json.objectValue?.map(\.0) == ["name", "group", "program", "process", "state", "health", "pid", "uptime",
                                              "started_at", "exited_at", "exit_status", "exit_code", "exit_signal", "retry_in",
                                              "spawn_error", "last_output", "restarts", "inflight", "rss_bytes", "port", "slot", "requests", "upstream_p50", "upstream_p99", "upstream_histogram", "description"])
        #expect(json["name"] == "web:web_00")
        #expect(json["group"] == "web")
        #expect(json["process"] == "web_00")
        #expect(json["state"] == "RUNNING")
        #expect(json["health"] == "ready")
        #expect(json["pid"] == 4121)
        #expect(json["uptime"] == 723.25)
        #expect(json["started_at"] == 1_700_000_000.123)
        #expect(json["exited_at"]?.isNull == true)
        #expect(json["restarts"] == 2)
        #expect(json["inflight"] == 1)
        #expect(json["rss_bytes"] == 52_428_800)
        #expect(json["port"] == 8001)
        #expect(json["description"]?.stringValue == running.description)
        #expect(json.json.contains(#""pid":4121,"uptime":723.25,"started_at":1700000000.123,"exited_at":null"#))

        let killed = AdminFixtures.process("web:web_00", .backoff, health: .ready, exited: 1_700_000_001_000_000_000,
                                           exit: .signaled(SIGKILL, coreDumped: false), retryIn: 2)
        #expect(killed.json["health"]?.isNull == true, "health only means something while RUNNING")
        #expect(killed.json["pid"]?.isNull == true)
        #expect(killed.json["exit_status"] == "terminated by SIGKILL")
        #expect(killed.json["exit_signal"] == "SIGKILL")
        #expect(killed.json["exit_code"]?.isNull == true)
        #expect(killed.json["exited_at"] == 1_700_000_001)
        #expect(killed.json["retry_in"] == 2)
        let failed = AdminFixtures.process("web:web_00", .exited, exit: .exited(3))
        #expect(failed.json["exit_status"] == "exit status 3")
        #expect(failed.json["exit_code"] == 3)
    }

    @Test func adminStatusJSONDocument() throws {
        let snapshot = AdminFixtures.snapshot([AdminFixtures.process("web:web_00", .stopped, started: nil)],
                                              proxies: [ProxySnapshot(name: "api", listen: ":8080", upstream: "web", readyWorkers: 3, totalWorkers: 4)])
        let text = snapshot.json.json
        let document = try JSONValue.parse(text)
        #expect(document["pid"] == 1)
        #expect(document["version"] == "0.1.0")
        #expect(document["uptime"] == 3723.9)
        #expect(document["config"] == "/etc/drover/supervisor.conf")
        #expect(document["started_at"] == 1_794_999_000)
        #expect(document["processes"]?[0]?["description"] == "Not started")
        #expect(document["proxies"]?[0] == ["name": "api", "listen": ":8080", "upstream": "web", "ready_workers": 3, "total_workers": 4])
    }
}
