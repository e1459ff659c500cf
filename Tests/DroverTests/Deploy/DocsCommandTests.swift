import Foundation
import Testing
@testable import Config

/// The docs match the binary (issue 15): the command blocks of the README,
/// docs/ and the example's README are valid shell and name subcommands and
/// options `drover` has; the outputs they quote are what it prints; every
/// config block is one `drover check` accepts; the systemd install steps
/// run in a temporary root and their config runs; the numbers the Docker
/// and systemd files give agree with the config they ship.
@Suite struct DocsCommandTests {
    static let root = Binaries.packageRoot

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    struct Block {
        var file: String
        var language: String
        var lines: [String]
    }

    /// The fenced code blocks of a Markdown file.
    static func blocks(_ path: String) throws -> [Block] {
        var result: [Block] = []
        var current: Block?
        for line in try read(path).split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("```") {
                if let open = current {
                    result.append(open)
                    current = nil
                } else {
                    current = Block(file: path, language: String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces), lines: [])
                }
            } else {
                current?.lines.append(line)
            }
        }
        return result
    }

    static let markdownFiles = ["README.md", "docs/from-supervisord.md", "docs/architecture.md", "examples/python-model/README.md"]

    /// The systemd unit's install steps: the `#   ` lines of its head comment.
    static func systemdInstallSteps() throws -> [String] {
        let text = try read("deploy/systemd/drover.service")
        let head = text.split(separator: "\n").prefix { !$0.hasPrefix("[Unit]") }
        return head.filter { $0.hasPrefix("#   ") }.map { String($0.dropFirst(4)) }
    }

    /// Lines of shell blocks that are commands a reader types (a diagram or
    /// quoted output is not); a `$ ` prompt is dropped.
    static func commandLines() throws -> [(where: String, line: String)] {
        let starts = ["drover", ".build/", "swift ", "curl ", "pip ", "docker ", "scripts/", "install ", "useradd ",
                      "groupadd ", "systemctl ", "kubectl ", "python3 "]
        var lines: [(String, String)] = []
        for file in markdownFiles {
            for block in try blocks(file) where ["", "sh", "bash", "console", "shell"].contains(block.language) {
                for raw in block.lines {
                    let line = raw.hasPrefix("$ ") ? String(raw.dropFirst(2)) : raw
                    if starts.contains(where: { line.hasPrefix($0) }), !line.contains(" → ") { lines.append((file, line)) }
                }
            }
        }
        for step in try systemdInstallSteps() { lines.append(("deploy/systemd/drover.service", step)) }
        return lines
    }

    /// `bash -n`: a line the reader pastes must at least parse
    /// (`--port %(port)s` unquoted does not).
    @Test func everyCommandLineIsValidShell() throws {
        let lines = try Self.commandLines()
        #expect(lines.count >= 30, "found the command blocks: \(lines.count)")
        for (file, line) in lines {
            let result = try runCommand("/bin/bash", ["-n", "-c", line])
            #expect(result.status == 0, "\(file): `\(line)` is not valid bash: \(result.stderr)")
        }
    }

    /// Every `drover SUB [options]` line names a subcommand drover has, and
    /// each option it shows is one that subcommand's --help lists.
    @Test func everyDroverLineUsesRealSubcommandsAndOptions() throws {
        let help = try runCommand(Binaries.drover, ["--help"]).stdout
        let subcommands = Set(help.split(separator: "\n").drop { !$0.hasPrefix("SUBCOMMANDS:") }.dropFirst()
            .compactMap { $0.split(separator: " ").first.map(String.init) })
        #expect(subcommands.isSuperset(of: ["run", "status", "tail", "reread", "update", "top"]), "\(subcommands)")
        var checked = 0
        for (file, line) in try Self.commandLines() {
            var words = line.split(separator: " ").map(String.init)
            guard let first = words.first, first == "drover" || first.hasSuffix("/drover") else { continue }
            if let comment = words.firstIndex(where: { $0.hasPrefix("#") }) { words = Array(words[..<comment]) }
            if let dashes = words.firstIndex(of: "--") { words = Array(words[..<dashes]) }
            // `drover -s PATH status`: leading global options.
            var index = 1
            while index < words.count, ["-s", "-c"].contains(words[index]) { index += 2 }
            guard index < words.count, !words[index].hasPrefix("-") else { continue }
            // `a | b`: alternatives, checked when they are subcommands.
            var groups: [[String]] = [[]]
            for word in words[index...] { if word == "|" { groups.append([]) } else { groups[groups.count - 1].append(word) } }
            for (position, group) in groups.enumerated() {
                guard let head = group.first else { continue }
                let names = head.split(separator: "|").map(String.init)
                guard names.allSatisfy(subcommands.contains) else {
                    #expect(position > 0, "\(file): `\(line)`: '\(head)' is not a drover subcommand")
                    continue
                }
                for name in names {
                    let subHelp = try runCommand(Binaries.drover, [name, "--help"]).stdout
                    for word in group.dropFirst() {
                        let option = word.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                        guard option.hasPrefix("-"), option.count > 1 else { continue }
                        let spelled = option.dropFirst().allSatisfy(\.isNumber) ? "-<bytes>" : option
                        #expect(subHelp.contains(spelled), "\(file): `\(line)`: drover \(name) --help has no \(spelled)")
                    }
                    checked += 1
                }
            }
        }
        #expect(checked >= 20, "checked \(checked) subcommand uses")
    }

    /// Every complete config block (one with a [program:x]) is a file
    /// `drover check` accepts; warnings are allowed, errors are not.
    @Test func everyConfigBlockPassesCheck() throws {
        let dir = TempDir("doc-ini")
        defer { dir.cleanup() }
        var checked = 0
        for file in Self.markdownFiles {
            for (index, block) in try Self.blocks(file).enumerated() where block.language == "ini" && block.lines.contains(where: { $0.hasPrefix("[program:") }) {
                let path = dir.write("block\(checked).conf", block.lines.joined(separator: "\n") + "\n")
                let result = try runCommand(Binaries.drover, ["check", "-c", path])
                #expect(result.status == 0, "\(file) block \(index): \(result.stderr)")
                checked += 1
            }
        }
        #expect(checked >= 4, "\(checked)")
    }

    /// from-supervisord.md quotes `drover check` on a config it shows:
    /// that output, line for line, is what drover prints.
    @Test func theQuotedCheckOutputIsWhatCheckPrints() throws {
        let blocks = try Self.blocks("docs/from-supervisord.md")
        let quoted = try #require(blocks.first { $0.lines.first?.hasPrefix("$ drover check -c /etc/supervisord.conf") == true })
        let index = try #require(blocks.firstIndex { $0.lines == quoted.lines })
        let input = blocks[index - 1]
        try #require(input.language == "ini", "the config comes right before the output")
        let dir = TempDir("doc-check")
        defer { dir.cleanup() }
        let path = dir.write("supervisord.conf", input.lines.joined(separator: "\n") + "\n")
        let result = try runCommand("/bin/sh", ["-c", "exec \"$0\" check -c \"$1\" 2>&1", Binaries.drover, path])
        let expected = quoted.lines.dropFirst().filter { !$0.isEmpty }.map { $0.replacingOccurrences(of: "/etc/supervisord.conf", with: path) }
        #expect(result.status == 0)
        #expect(result.stdout.split(separator: "\n").map(String.init) == Array(expected), "\(result.stdout)")
    }

    /// The unit's install steps, in a temporary root: the binaries and the
    /// unit's own config land where the unit looks, the config has no path
    /// of the checkout in it, `drover check` (the unit's ExecStartPre)
    /// accepts it, and the pool it describes runs and serves.
    @Test func systemdInstallStepsWorkInATemporaryRoot() throws {
        let steps = try Self.systemdInstallSteps()
        let dir = TempDir("systemd-root")
        defer { dir.cleanup() }
        let root = dir.path
        // What every Linux system has before the steps run.
        for path in ["/usr/local/bin", "/usr/local/share", "/etc/systemd/system"] {
            try FileManager.default.createDirectory(atPath: root + path, withIntermediateDirectories: true)
        }
        var ran = 0
        for step in steps {
            let command = step.split(separator: "#", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? step
            if command.hasPrefix("useradd ") {
                // Not here (not root); it must create the unit's User= with its own group.
                #expect(command.contains("--system") && command.contains("--user-group") && command.hasSuffix(" drover"), "\(command)")
                continue
            }
            if command.hasPrefix("systemctl ") || command.hasPrefix("drover ") { continue }
            // Into the temporary root; the binaries are this build's.
            let rooted = command
                .replacingOccurrences(of: ".build/release/", with: Binaries.directory.path + "/")
                .replacingOccurrences(of: " /usr/local/", with: " \(root)/usr/local/")
                .replacingOccurrences(of: " /etc/", with: " \(root)/etc/")
            let outside = rooted.split(separator: " ").filter { $0.hasPrefix("/") && !$0.hasPrefix(root) && !$0.hasPrefix(Binaries.directory.path) }
            try #require(outside.isEmpty, "every path of `\(command)` is rewritten into the root: \(outside)")
            let result = try runCommand("/bin/sh", ["-c", rooted], directory: Self.root.path)
            #expect(result.status == 0, "`\(command)`: \(result.stderr)")
            ran += 1
        }
        #expect(ran >= 4, "ran \(ran) install steps")
        for path in ["/usr/local/bin/drover", "/usr/local/bin/drover-demo-worker", "/etc/drover/supervisor.conf",
                     "/etc/systemd/system/drover.service", "/usr/local/share/doc/drover/from-supervisord.md"] {
            #expect(FileManager.default.fileExists(atPath: root + path), "\(path) installed")
        }
        let unit = try String(contentsOfFile: root + "/etc/systemd/system/drover.service", encoding: .utf8)
        let config = try String(contentsOfFile: root + "/etc/drover/supervisor.conf", encoding: .utf8)
        #expect(!config.contains("%(here)s"), "the unit's config does not depend on where it was installed from")
        #expect(config.contains("file = /run/drover/drover.sock"), "the socket is in the unit's RuntimeDirectory")
        #expect(unit.contains("RuntimeDirectory=drover") && unit.contains("User=drover"))
        #expect(steps.contains { $0.contains("-s /run/drover/drover.sock status") })

        // The unit's ExecStartPre on the installed config, with the root's paths.
        let ports = TestPorts.block(12)
        let local = config
            .replacingOccurrences(of: "/usr/local/bin/", with: root + "/usr/local/bin/")
            .replacingOccurrences(of: "/run/drover/", with: root + "/run/drover/")
            .replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:\(ports)")
            .replacingOccurrences(of: "port = 8101", with: "port = \(ports + 2)")
            .replacingOccurrences(of: "numprocs = auto", with: "numprocs = 2")
        try FileManager.default.createDirectory(atPath: root + "/run/drover", withIntermediateDirectories: true)
        let path = dir.write("local.conf", local)
        let check = try runCommand(root + "/usr/local/bin/drover", ["check", "-c", path])
        #expect(check.status == 0 && !check.stderr.contains("warning"), "\(check.stderr)")

        // And it runs: the workers come up ready behind the proxy.
        let drover = try DroverHarness(arguments: ["run", "-c", path], directory: root)
        defer { drover.terminate() }
        let socket = root + "/run/drover/drover.sock"
        let ready = waitUntil(timeout: 30) {
            let status = try? runCommand(root + "/usr/local/bin/drover", ["-s", socket, "status"])
            return status?.status == 0 && status?.stdout.components(separatedBy: ", ready").count == 3
        }
        #expect(ready, "\(drover.transcript)")
        let answer = WireClient.tcp(ports)?.exchange("GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        #expect(answer?.status == 200, "\(String(describing: answer))")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"),
                   "systemd-analyze is not installed on this host"))
    func systemdUnitIsHardened() throws {
        let dir = TempDir("unit-security")
        defer { dir.cleanup() }
        let unit = dir.write("drover.service", try Self.read("deploy/systemd/drover.service"))
        let result = try runCommand("/usr/bin/systemd-analyze", ["security", "--offline=true", unit])
        let line = try #require(result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(result.stdout)\(result.stderr)")
        let score = Double(line.split(separator: ":").last?.split(separator: " ").first ?? "")
        #expect(score != nil && score! <= 4.0, "systemd-analyze security: \(line)")
        #expect(try Self.read("README.md").contains("`systemd-analyze security`: \(score.map { String($0) } ?? "?") OK"),
                "the README quotes the score systemd-analyze gives")
    }

    /// `docker stop -t N` everywhere gives the worst case of a graceful
    /// stop, the drain plus the workers' stopwaitsecs, and a margin.
    @Test func stopTimeoutsCoverDrainPlusStopwaitsecs() throws {
        let config = try ConfigLoader.load(path: Self.root.appendingPathComponent("examples/python-model/supervisor.conf").path,
                                           environment: [:], for: .check)
        let drain = config.supervisord.shutdownTimeout
        let stopwait = config.programs.map { $0.processes.first?.stopwaitsecs ?? .zero }.max() ?? .zero
        let worst = Int((drain + stopwait).components.seconds)
        #expect(worst == 40, "drain 30 s + stopwaitsecs 10 s")
        var found = 0
        for file in ["Dockerfile", "README.md", "examples/python-model/README.md"] {
            let text = try Self.read(file)
            for match in text.matches(of: /docker stop -t (\d+)/) {
                let seconds = Int(match.1) ?? 0
                #expect(seconds > worst, "\(file): docker stop -t \(seconds) is under the worst case \(worst) s")
                found += 1
            }
        }
        #expect(found >= 3, "\(found)")
        // The systemd unit's TimeoutStopSec likewise.
        let unit = try Self.read("deploy/systemd/drover.service")
        let stop = try #require(unit.firstMatch(of: /TimeoutStopSec=(\d+)/).flatMap { Int($0.1) })
        #expect(stop > worst)
    }

    /// The image's user and group are the ids the Kubernetes manifest runs
    /// as, and nothing claims the static binary needs the image's glibc.
    @Test func dockerfileUserAndGroupMatchTheManifest() throws {
        let dockerfile = try Self.read("Dockerfile")
        let deployment = try Self.read("deploy/kubernetes/deployment.yaml")
        let uid = try #require(deployment.firstMatch(of: /runAsUser: (\d+)/).map { String($0.1) })
        let gid = try #require(deployment.firstMatch(of: /runAsGroup: (\d+)/).map { String($0.1) })
        #expect(dockerfile.contains("groupadd --system --gid \(gid) drover"))
        #expect(dockerfile.contains("--uid \(uid) --gid \(gid)"))
        #expect(dockerfile.contains("USER \(uid):\(gid)"))
        #expect(!dockerfile.contains("glibc and libstdc++"), "the release binary is static: no glibc to match")
    }

    /// The README stands alone: no link or path out of the repository.
    @Test func readmeHasNoPathOutsideTheRepository() throws {
        for file in Self.markdownFiles {
            let text = try Self.read(file)
            #expect(!text.contains("../shared") && !text.contains("](../"), "\(file) points outside the repository")
        }
    }

    /// from-supervisord.md says what the loader does: startretries
    /// defaults to 3 (supervisord's), 0 retries forever.
    @Test func startretriesDefaultIsWhatTheDocSays() throws {
        let dir = TempDir("startretries")
        defer { dir.cleanup() }
        let path = dir.write("s.conf", "[program:web]\ncommand = /bin/sleep 60\n")
        let config = try ConfigLoader.load(path: path, environment: [:], for: .check)
        #expect(config.programs.first?.processes.first?.startretries == 3)
        let doc = try Self.read("docs/from-supervisord.md")
        #expect(doc.contains("`startretries` defaults to 3"))
        #expect(!doc.contains("default `startretries = 0`") && !doc.contains("drover's default `startretries"))
    }
}
