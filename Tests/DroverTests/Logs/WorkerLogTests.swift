import Foundation
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
import Testing

@Suite struct WorkerLogTests {
    @Test func logFilesRotateKeepingBackups() throws {
        let dir = TempDir("rotate")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:chatty]
            command = /bin/sh -c 'i=0; while [ $i -lt 400 ]; do echo "line $i padding-padding-padding"; i=$((i+1)); done; echo done; exec sleep 60'
            stdout_logfile = %(here)s/chatty.log
            stdout_logfile_maxbytes = 2KB
            stdout_logfile_backups = 2
            stdout_mirror = false
            """, in: dir)
        defer { drover.terminate() }
        let fm = FileManager.default
        #expect(waitUntil {
            ((try? String(contentsOfFile: dir.file("chatty.log"), encoding: .utf8)) ?? "").contains("done")
        })
        for name in ["chatty.log", "chatty.log.1", "chatty.log.2"] {
            #expect(fm.fileExists(atPath: dir.file(name)), "\(name) exists")
            let size = (try? fm.attributesOfItem(atPath: dir.file(name))[.size] as? Int) ?? -1
            #expect(size > 0 && size <= 2048, "\(name) is \(size) bytes")
        }
        #expect(!fm.fileExists(atPath: dir.file("chatty.log.3")), "only 2 backups kept")
        let newest = try String(contentsOfFile: dir.file("chatty.log.1"), encoding: .utf8)
        #expect(newest.contains("line 3"), "backups hold the most recent earlier lines")
        #expect(drover.lines(containing: "chatty |").isEmpty, "mirror off")
    }

    @Test func stderrRedirectAndSeparateFiles() throws {
        let dir = TempDir("streams")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:split]
            command = /bin/sh -c 'echo to-out; echo to-err >&2; exec sleep 60'
            stdout_logfile = %(here)s/split.out
            stderr_logfile = %(here)s/split.err

            [program:merged]
            command = /bin/sh -c 'echo m-out; echo m-err >&2; exec sleep 60'
            stdout_logfile = %(here)s/merged.out
            redirect_stderr = true
            """, in: dir)
        defer { drover.terminate() }
        func read(_ name: String) -> String { (try? String(contentsOfFile: dir.file(name), encoding: .utf8)) ?? "" }
        #expect(waitUntil { read("split.out") == "to-out\n" && read("split.err") == "to-err\n" })
        #expect(waitUntil { read("merged.out").contains("m-out") && read("merged.out").contains("m-err") })
    }

    @Test func mirrorPrefixesEveryLineWithTheProcessName() throws {
        let dir = TempDir("mirror")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:web]
            command = /bin/sh -c 'printf "one\\ntwo\\n"; printf "par"; sleep 0.1; printf "tial\\n"; exec sleep 60'
            process_name = web_%(process_num)02d
            numprocs = 2
            stdout_logfile = NONE
            stdout_mirror = true
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("web_01 | one")
        drover.waitForLine("web_01 | two")
        drover.waitForLine("web_00 | partial")
    }

    @Test func sigusr1ReopensLogFiles() throws {
        let dir = TempDir("reopen")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:ticker]
            command = /bin/sh -c 'while :; do echo tick; sleep 0.05; done'
            stdout_logfile = %(here)s/ticker.log
            """, in: dir)
        defer { drover.terminate() }
        let log = dir.file("ticker.log")
        #expect(waitUntil { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("tick") })
        try FileManager.default.moveItem(atPath: log, toPath: log + ".old")
        drover.signal(SIGUSR1)
        #expect(waitUntil { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("tick") },
                "a new file is written after SIGUSR1")
    }

    @Test func autoLogsGoToChildlogdir() throws {
        let dir = TempDir("auto")
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.file("logs"), withIntermediateDirectories: true)
        let drover = try DroverHarness(config: """
            [supervisord]
            childlogdir = %(here)s/logs

            [program:auto]
            command = /bin/sh -c 'echo auto-out; echo auto-err >&2; exec sleep 60'
            """, in: dir)
        defer { drover.terminate() }
        #expect(waitUntil {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.file("logs"))) ?? []
            let texts = files.map { (try? String(contentsOfFile: dir.file("logs/\($0)"), encoding: .utf8)) ?? "" }
            return texts.contains("auto-out\n") && texts.contains("auto-err\n")
        })
    }

    @Test func droverLogfileGetsEvents() throws {
        let dir = TempDir("ownlog")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [supervisord]
            logfile = %(here)s/drover.log

            [program:quiet]
            command = /bin/sleep 60
            startsecs = 0
            """, in: dir)
        defer { drover.terminate() }
        #expect(waitUntil {
            ((try? String(contentsOfFile: dir.file("drover.log"), encoding: .utf8)) ?? "").contains("quiet:quiet RUNNING")
        })
        let line = try String(contentsOfFile: dir.file("drover.log"), encoding: .utf8)
            .split(separator: "\n").first { $0.contains("quiet:quiet RUNNING") } ?? ""
        #expect(logTime(String(line)) != nil, "each event line starts with its time")
        #expect(line.contains(" INFO "), "and its level")
    }
}

@Suite struct ByteRingTests {
    @Test func keepsTheLastCapacityBytes() {
        var ring = ByteRing(capacity: 8)
        ring.append(Array("abc".utf8))
        #expect(ring.contents == Array("abc".utf8))
        ring.append(Array("defghij".utf8))
        #expect(ring.contents == Array("cdefghij".utf8))
        ring.append(Array("0123456789XY".utf8))
        #expect(ring.contents == Array("456789XY".utf8))
        ring.append(Array("z".utf8))
        #expect(ring.contents == Array("56789XYz".utf8))
        #expect(ring.totalWritten == 23)
    }

    @Test func lastLines() {
        var ring = ByteRing(capacity: 64)
        ring.append(Array("one\ntwo\nthree\nfour\n".utf8))
        #expect(String(decoding: ring.lastLines(2), as: UTF8.self) == "three\nfour\n")
        #expect(String(decoding: ring.lastLines(10), as: UTF8.self) == "one\ntwo\nthree\nfour\n")
        ring.append(Array("partial".utf8))
        #expect(String(decoding: ring.lastLines(1), as: UTF8.self) == "partial")
    }
}
