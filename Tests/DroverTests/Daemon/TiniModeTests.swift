import Foundation
import Testing

/// `drover run -- CMD` with one worker behaves like tini.
@Suite struct TiniModeTests {
    @Test func exitCodeIsPassedThrough() throws {
        let result = try runCommand(Binaries.drover, ["run", "--", "/bin/sh", "-c", "echo out; exit 3"])
        #expect(result.status == 3)
        #expect(result.stdout.contains("out"))
    }

    @Test func deathBySignalBecomes128PlusN() throws {
        let result = try runCommand(Binaries.drover, ["run", "--", "/bin/sh", "-c", "kill -TERM $$"])
        #expect(result.status == 128 + SIGTERM)
    }

    @Test func signalsAreForwardedToTheChild() throws {
        let dir = TempDir("tini")
        defer { dir.cleanup() }
        let marker = dir.file("ready")
        let drover = try DroverHarness(arguments: [
            "run", "--", "/bin/sh", "-c",
            "trap 'exit 42' USR1; trap 'exit 43' TERM; touch \(marker); while :; do sleep 0.05; done",
        ])
        #expect(waitUntil { FileManager.default.fileExists(atPath: marker) })
        drover.signal(SIGUSR1)
        #expect(drover.waitForExit() == 42)

        let second = try DroverHarness(arguments: [
            "run", "--", "/bin/sh", "-c",
            "trap 'exit 43' TERM; touch \(marker)2; while :; do sleep 0.05; done",
        ])
        #expect(waitUntil { FileManager.default.fileExists(atPath: marker + "2") })
        second.signal(SIGTERM)
        #expect(second.waitForExit() == 43)
    }

    @Test func missingCommandExits127() throws {
        let result = try runCommand(Binaries.drover, ["run", "--", "/nonexistent/command"])
        #expect(result.status == 127)
        #expect(result.stderr.contains("/nonexistent/command"))
    }

    @Test func noRestartInTiniMode() throws {
        let dir = TempDir("tini")
        defer { dir.cleanup() }
        let counter = dir.file("count")
        let result = try runCommand(Binaries.drover, ["run", "--", "/bin/sh", "-c", "echo x >> \(counter); exit 1"])
        #expect(result.status == 1)
        let runs = try String(contentsOfFile: counter, encoding: .utf8).split(separator: "\n").count
        #expect(runs == 1)
    }
}

@Suite struct ConfigLessPoolTests {
    @Test func workersGetPortsNamesAndEnvironment() throws {
        let dir = TempDir("pool")
        defer { dir.cleanup() }
        let drover = try DroverHarness(arguments: [
            "run", "--workers", "3", "--port", "24200", "--", "/bin/sh", "-c",
            "echo \"arg=%(port)s env=$PORT name=$DROVER_PROCESS_NAME num=$DROVER_PROCESS_NUM group=$SUPERVISOR_GROUP_NAME\"; exec sleep 60",
        ])
        defer { drover.terminate() }
        for index in 0..<3 {
            let name = "app_0\(index)"
            drover.waitForLine("\(name) | arg=\(24200 + index) env=\(24200 + index) name=\(name) num=\(index) group=app")
        }
        drover.signal(SIGTERM)
        #expect(drover.waitForExit() == 0)
    }

    @Test func badUsageExits2() throws {
        #expect(try runCommand(Binaries.drover, ["run", "--workers", "zero", "--", "true"]).status == 2)
        #expect(try runCommand(Binaries.drover, ["run", "--bogus"]).status == 2)
        #expect(try runCommand(Binaries.drover, ["frobnicate"]).status == 2)
        let listen = try runCommand(Binaries.drover, ["run", "--listen", "nope", "--", "true"])
        #expect(listen.status == 2)
        #expect(listen.stderr.contains("--listen"))
    }

    @Test func helpOnEverySubcommand() throws {
        for sub in ["run", "check", "status", "start", "stop", "restart", "scale", "signal", "tail", "reload", "shutdown", "pid", "version"] {
            let result = try runCommand(Binaries.drover, [sub, "--help"])
            #expect(result.status == 0, "\(sub) --help")
            #expect(result.stdout.contains("USAGE: drover \(sub)"), "\(sub) --help")
        }
    }
}

@Suite struct ConfigLessExpansionTests {
    @Test func unknownExpansionIsAUsageErrorNamingIt() throws {
        let result = try runCommand(Binaries.drover, ["run", "--workers", "2", "--", "/bin/echo", "%(prot)s"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("%(prot)s"))
        // Without --port or --listen the first worker port is 8000; with --listen, listen + 1.
        let defaultPort = try runCommand(Binaries.drover, ["run", "--", "/bin/echo", "%(port)s"])
        #expect(defaultPort.status == 0)
        #expect(defaultPort.stdout.contains("8000"))
        // With --listen even one worker is a pool (restarted, proxied), so it
        // runs until stopped.
        let listen = TestPorts.block(2)
        let afterListen = try DroverHarness(arguments: ["run", "--listen", "127.0.0.1:\(listen)", "--", "/bin/sh", "-c", "echo port=%(port)s; exec sleep 30"])
        defer { afterListen.terminate() }
        afterListen.waitForLine("port=\(listen + 1)")
    }

    @Test func environmentAndProcessNumExpand() throws {
        let result = try runCommand(Binaries.drover, ["run", "--", "/bin/echo", "%(ENV_HOME)s-%(process_num)02d-%(program_name)s"],
                                    environment: ["HOME": "/home/x", "PATH": "/usr/bin:/bin"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("/home/x-00-app"))
    }
}
