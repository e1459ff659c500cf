import Foundation
import Testing

/// deploy/systemd/drover.service: the keys that make sd_notify, reload and
/// a supervisor's stop work (SystemdNotifyTests covers drover's side).
@Suite struct SystemdUnitTests {
    static let path = Binaries.packageRoot.appendingPathComponent("deploy/systemd/drover.service").path

    /// `[Section]` → key → values (a key may repeat).
    static func parse(_ text: String) -> [String: [String: [String]]] {
        var result: [String: [String: [String]]] = [:]
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") { section = String(line.dropFirst().dropLast()); continue }
            guard let equals = line.firstIndex(of: "=") else { continue }
            result[section, default: [:]][String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return result
    }

    static func seconds(_ text: String?) -> Double? {
        guard let text else { return nil }
        if text.hasSuffix("min") { return Double(text.dropLast(3)).map { $0 * 60 } }
        if text.hasSuffix("s") { return Double(text.dropLast()) }
        return Double(text)
    }

    @Test func unitFitsASupervisorThatSpeaksSdNotify() throws {
        let text = try String(contentsOfFile: Self.path, encoding: .utf8)
        let unit = Self.parse(text)
        let service = try #require(unit["Service"])
        #expect(service["Type"] == ["notify"])
        #expect(service["NotifyAccess"] == ["main"])
        #expect(service["ExecReload"]?.first?.contains("kill -HUP $MAINPID") == true)
        #expect(service["KillMode"] == ["mixed"])
        let watchdog = try #require(Self.seconds(service["WatchdogSec"]?.first))
        #expect(watchdog >= 2)
        let start = try #require(service["ExecStart"]?.first)
        #expect(start.hasSuffix("drover run -c /etc/drover/supervisor.conf"))
        #expect(service["RuntimeDirectory"] == ["drover"], "the control socket lives in /run/drover")
        // The stop timeout covers the default shutdown_timeout (30s) and stopwaitsecs (10s).
        #expect((Self.seconds(service["TimeoutStopSec"]?.first) ?? 0) > 40)
        #expect(unit["Install"]?["WantedBy"] == ["multi-user.target"])
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"),
                   "systemd-analyze is not installed on this host"))
    func systemdAnalyzeVerifies() throws {
        let dir = TempDir("unit")
        defer { dir.cleanup() }
        // The unit as installed, pointing at the binary this build made and
        // at its own example config (deploy/systemd/supervisor.conf).
        let config = Binaries.packageRoot.appendingPathComponent("deploy/systemd/supervisor.conf").path
        let text = try String(contentsOfFile: Self.path, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/drover", with: Binaries.drover)
            .replacingOccurrences(of: "/etc/drover/supervisor.conf", with: config)
        let unit = dir.write("drover.service", text)
        let result = try runCommand("/usr/bin/systemd-analyze", ["verify", unit])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stdout)\(result.stderr)")
        // Its ExecStartPre, as systemd would run it, accepts that config.
        let pre = try #require(Self.parse(text)["Service"]?["ExecStartPre"]?.first)
        let words = pre.split(separator: " ").map(String.init)
        let check = try runCommand(words[0], Array(words.dropFirst()))
        #expect(check.status == 0 && !check.stderr.contains("error"), "\(pre): \(check.stderr)")
    }
}
