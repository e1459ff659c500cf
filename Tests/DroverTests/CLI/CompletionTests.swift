import Foundation
import Testing

/// `drover completion bash|zsh` (SPEC §2): generated from the CLI's own
/// subcommand table, syntactically valid, and completing for real.
@Suite struct CompletionTests {
    /// The subcommands `drover --help` lists: the table the scripts must cover.
    static func subcommands() throws -> [String] {
        let help = try runCommand(Binaries.drover, ["--help"]).stdout
        let section = try #require(help.range(of: "SUBCOMMANDS:")).upperBound
        return help[section...].split(separator: "\n").compactMap { line in
            guard line.hasPrefix("  "), let word = line.split(separator: " ").first, !line.contains("See '") else { return nil }
            return String(word)
        }
    }

    static var zshAvailable: Bool {
        ["/usr/bin/zsh", "/bin/zsh", "/usr/local/bin/zsh"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// What bash completes for `line` (the cursor at its end), through the
    /// generated script's `_drover`, one candidate a line.
    static func bashComplete(_ script: String, _ line: String) throws -> [String] {
        let program = """
            source "$1"
            COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}
            read -r -a COMP_WORDS <<< "$COMP_LINE"
            [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            _drover
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        let result = try runCommand("/bin/bash", ["-c", program, "bash", script, line])
        #expect(result.stderr.isEmpty, "bash said: \(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    @Test func scriptsCoverEverySubcommandAndParse() throws {
        let dir = TempDir("completion")
        defer { dir.cleanup() }
        let subcommands = try Self.subcommands()
        #expect(subcommands.count >= 15, "\(subcommands)")
        #expect(subcommands.contains("top") && subcommands.contains("completion"))
        for shell in ["bash", "zsh"] {
            let result = try runCommand(Binaries.drover, ["completion", shell])
            #expect(result.status == 0, "\(result.stderr)")
            for name in subcommands {
                #expect(result.stdout.contains("\(name))"), "\(shell) script has a case for \(name)")
            }
            dir.write("drover.\(shell)", result.stdout)
        }
        let bash = try runCommand("/bin/bash", ["-n", dir.file("drover.bash")])
        #expect(bash.status == 0, "bash -n: \(bash.stderr)")
        #expect(try runCommand(Binaries.drover, ["completion", "bash"]).stdout.contains("complete -o default -F _drover drover"))
        let zsh = try runCommand(Binaries.drover, ["completion", "zsh"]).stdout
        #expect(zsh.hasPrefix("#compdef drover"))
        #expect(zsh.contains("'top:Live view of the pools"), "subcommands carry their abstracts for zsh")

        let unknown = try runCommand(Binaries.drover, ["completion", "fish"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("fish"))
        #expect(try runCommand(Binaries.drover, ["completion"]).status == 2)
    }

    @Test(.enabled(if: zshAvailable, "zsh is not installed on this host: `zsh -n` cannot run"))
    func zshScriptParses() throws {
        let dir = TempDir("completion-zsh")
        defer { dir.cleanup() }
        let path = dir.write("_drover", try runCommand(Binaries.drover, ["completion", "zsh"]).stdout)
        let zsh = try runCommand("/usr/bin/env", ["zsh", "-n", path])
        #expect(zsh.status == 0, "zsh -n: \(zsh.stderr)")
    }

    @Test func bashCompletesSubcommandsAndOptions() throws {
        let dir = TempDir("completion-bash")
        defer { dir.cleanup() }
        let script = dir.write("drover.bash", try runCommand(Binaries.drover, ["completion", "bash"]).stdout)
        let drover = Binaries.drover
        let all = try Self.bashComplete(script, "\(drover) ")
        for name in try Self.subcommands() { #expect(all.contains(name), "\(name) in \(all)") }
        #expect(Set(try Self.bashComplete(script, "\(drover) sta")) == ["start", "status"])
        #expect(try Self.bashComplete(script, "\(drover) status --j") == ["--json"])
        #expect(try Self.bashComplete(script, "\(drover) top --o") == ["--once"])
        #expect(Set(try Self.bashComplete(script, "\(drover) tail -")).isSuperset(of: ["-f", "--follow", "-n", "--lines", "--stderr", "-s", "--socket"]))
        #expect(try Self.bashComplete(script, "\(drover) completion ") == ["bash", "zsh"])
        #expect(try Self.bashComplete(script, "\(drover) signal HU") == ["HUP"])
        #expect(try Self.bashComplete(script, "\(drover) -s /x.sock res") == ["restart"], "global -s before the subcommand")
        #expect(try Self.bashComplete(script, "\(drover) --") .contains("--socket"))
        // No daemon: no names, and nothing on the terminal.
        #expect(try Self.bashComplete(script, "\(drover) -s \(dir.file("none.sock")) stop ").isEmpty)
    }

    /// Names come from the running daemon through the socket on the line.
    @Test func bashCompletesProcessNamesFromTheDaemon() throws {
        let dir = TempDir("completion-names")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [unix_http_server]
            file = %(here)s/drover.sock

            [program:web]
            command = /bin/sleep 60
            process_name = web_%(process_num)02d
            numprocs = 2
            startsecs = 0

            [program:cron]
            command = /bin/sleep 60
            startsecs = 0
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("web:web_01", "RUNNING")
        let script = dir.write("drover.bash", try runCommand(Binaries.drover, ["completion", "bash"]).stdout)
        let prefix = "\(Binaries.drover) -s \(dir.file("drover.sock"))"

        let names = try Self.bashComplete(script, "\(prefix) stop ")
        #expect(Set(names) == ["all", "web", "web:*", "web:web_00", "web:web_01", "cron", "cron:*", "cron:cron"], "\(names)")
        // bash splits words at ':', so what follows the colon is offered.
        #expect(try Self.bashComplete(script, "\(prefix) restart web:web") == ["web_00", "web_01"])
        #expect(Set(try Self.bashComplete(script, "\(prefix) scale ")) == ["web", "cron"])
        #expect(try Self.bashComplete(script, "\(prefix) scale web ").isEmpty)
        #expect(Set(try Self.bashComplete(script, "\(prefix) signal TERM c")) == ["cron", "cron:*", "cron:cron"])
        // The hidden helper itself, as zsh's script calls it.
        let helper = try runCommand(Binaries.drover, ["__complete-names", "-s", dir.file("drover.sock"), "--programs"])
        #expect(helper.stdout == "web\ncron\n" || helper.stdout == "cron\nweb\n", "\(helper.stdout)")
    }
}
