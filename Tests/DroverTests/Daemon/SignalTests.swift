import Foundation
import Testing

@Suite struct DaemonSignalTests {
    @Test func sigttinAndSigttouScaleProxiedPools() throws {
        let dir = TempDir("scale")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:web]
            command = /bin/sleep 60
            process_name = web_%(process_num)02d
            numprocs = 2
            port = 24500
            startsecs = 0

            [program:other]
            command = /bin/sleep 60
            startsecs = 0

            [proxy:front]
            listen = 127.0.0.1:24590
            upstream = web
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("web:web_01 RUNNING")
        drover.signal(SIGTTIN)
        drover.waitForLine("web:web_02 RUNNING")
        // Standard signals do not queue: wait for each to be handled.
        drover.signal(SIGTTOU)
        drover.waitForLine("web:web_02 STOPPED")
        drover.signal(SIGTTOU)
        drover.waitForLine("web:web_01 STOPPED")
        #expect(drover.lines(containing: "web:web_00 STOPPING").isEmpty, "the lowest-numbered worker stays")
        #expect(drover.lines(containing: "other:other_").isEmpty && drover.lines(containing: "other:other STOPPING").isEmpty,
                "a pool without a proxy is not scaled")
        drover.signal(SIGTERM)
        #expect(drover.waitForExit() == 0)
    }

    @Test func sighupRereadsTheConfigAndRejectsABrokenOne() throws {
        let dir = TempDir("hup")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:web]
            command = /bin/sleep 60
            startsecs = 0
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("web:web RUNNING")
        dir.write("supervisor.conf", "[program:web]\ncommand = /bin/sleep 60\nstartsecs = soon\n")
        drover.signal(SIGHUP)
        drover.waitForLine("SIGHUP", "supervisor.conf:3", "startsecs")
        #expect(drover.lines(containing: "web:web STOPPING").isEmpty, "a rejected reload changes nothing")
    }

    @Test func pidfileIsWrittenAndRemoved() throws {
        let dir = TempDir("pidfile")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [supervisord]
            pidfile = %(here)s/drover.pid

            [program:web]
            command = /bin/sleep 60
            startsecs = 0
            """, in: dir)
        drover.waitForLine("web:web RUNNING")
        let text = try String(contentsOfFile: dir.file("drover.pid"), encoding: .utf8)
        #expect(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) == drover.pid)
        drover.signal(SIGINT)
        #expect(drover.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.file("drover.pid")))
    }
}
