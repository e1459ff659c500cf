import Foundation
import Testing
@testable import Config

/// `[program:x] preload = true`: accepted where it can work, refused with
/// the reason where it cannot, and shown by `drover check`.
@Suite struct PreloadConfigTests {
    static let pool = """
        [supervisord]
        [program:model]
        command = python3 -m drover_preload app:load app:serve
        numprocs = 2
        process_name = %(program_name)s_%(process_num)d
        port = 8101

        """

    @Test func preloadTrueMarksEveryWorkerOfThePool() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let config = try f.load(Self.pool + "preload = true\n")
        let program = try #require(config.programs.first)
        #expect(program.processes.count == 2 && program.processes.allSatisfy(\.preload))
        #expect(!config.warnings.contains { $0.key == "preload" }, "\(config.warnings)")
        #expect(checkSummary(config).contains("program model (group model): 2 processes, priority 999, ports 8101-8102, "
                                              + PreloadRule.checkNote))

        let plain = try f.load(Self.pool + "preload = false\n")
        #expect(plain.programs[0].processes.allSatisfy { !$0.preload })
        #expect(!checkSummary(plain).contains(PreloadRule.checkNote))
    }

    @Test func preloadIsRefusedWithoutAPortOrForAnFcgiProgram() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let noPort = f.errors("[supervisord]\n[program:model]\ncommand = /bin/model\npreload = true\n")
        #expect(has(noPort.errors, line: 4, key: "preload", "needs `port =`"), "\(noPort.errors)")

        let fcgi = f.errors("[supervisord]\n[fcgi-program:model]\ncommand = /bin/model\nsocket = tcp://127.0.0.1:9100\npreload = true\n")
        #expect(has(fcgi.errors, line: 5, key: "preload", "cannot preload"), "\(fcgi.errors)")

        let notBoolean = f.errors(Self.pool + "preload = sometimes\n")
        #expect(notBoolean.errors.contains { $0.key == "preload" }, "\(notBoolean.errors)")
    }

    @Test func droverCheckPrintsThatTheProgramPreloads() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let path = f.write("supervisor.conf", Self.pool + "preload = true\n")
        let result = try runCommand(Binaries.drover, ["check", "-c", path], environment: ["PATH": "/usr/bin:/bin"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ports 8101-8102, preload: command runs one template, workers fork from it"),
                "\(result.stdout)")
    }
}
