import Foundation
import Testing

/// The control socket itself: permissions, stale sockets, bad input, many clients.
@Suite struct ControlSocketTests {
    static let one = """
        [program:web]
        command = /bin/sleep 60
        startsecs = 0
        """

    @Test func socketHasItsModeAndStaleSocketsAreReplaced() throws {
        let dir = TempDir("sockmode")
        defer { dir.cleanup() }
        // A stale socket: bound once, nobody serving it now.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = dir.file("drover.sock")
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(stale)
        let drover = try DroverHarness(config: "[unix_http_server]\nfile = %(here)s/drover.sock\nchmod = 0760\n\n" + Self.one, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("web:web RUNNING")
        #expect(RawHTTP.get(unix: path, "/v1/status")?.status == 200)
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o760)

        // A second drover on the same socket refuses: someone serves it.
        let second = try DroverHarness(config: "[unix_http_server]\nfile = \(path)\n\n" + Self.one, in: TempDir("second"))
        #expect(second.waitForExit() == 1)
        #expect(second.transcript.contains(path))
    }

    @Test func aFileInTheWayIsAnError() throws {
        let dir = TempDir("inway")
        defer { dir.cleanup() }
        dir.write("drover.sock", "not a socket")
        let drover = try DroverHarness(config: "[unix_http_server]\nfile = %(here)s/drover.sock\n\n" + Self.one, in: dir)
        #expect(drover.waitForExit() == 1)
        #expect(drover.transcript.contains("drover.sock"))
        #expect((try? String(contentsOfFile: dir.file("drover.sock"), encoding: .utf8)) == "not a socket", "never deleted")
    }

    @Test func garbageAndOversizedRequestsGet4xxAndTheDaemonCarriesOn() throws {
        let daemon = try ControlledDrover(Self.one)
        daemon.drover.waitForLine("web:web RUNNING")
        let socket = daemon.socket
        #expect(RawHTTP.exchange(unix: socket, "GARBAGE\r\n\r\n")?.status == 400)
        #expect(RawHTTP.exchange(unix: socket, "GET /v1/status HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")?.status == 400)
        let bigHeader = "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 70_000) + "\r\n\r\n"
        #expect(RawHTTP.exchange(unix: socket, bigHeader)?.status == 431)
        let bigBody = "POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n"
        #expect(RawHTTP.exchange(unix: socket, bigBody)?.status == 413)
        #expect(RawHTTP.exchange(unix: socket, "POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc")?.status == 400)
        let notJSON = RawHTTP.post(unix: socket, "/v1/programs/web/scale", body: "{nope")
        #expect(notJSON?.status == 400)
        #expect(RawHTTP.json(notJSON)?["code"] as? String == "bad_json")
        let unknown = RawHTTP.get(unix: socket, "/v2/everything")
        #expect(unknown?.status == 404)
        #expect(RawHTTP.json(unknown)?["error"] != nil)
        #expect(RawHTTP.exchange(unix: socket, "DELETE /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?.status == 405)
        // Random bytes.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let noise = (0..<Int.random(in: 1...2000, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = RawHTTP.exchange(unix: socket, bytes: noise + Array("\r\n\r\n".utf8))
        }
        // Still serving, still supervising.
        #expect(RawHTTP.get(unix: socket, "/v1/status")?.status == 200)
        #expect(try daemon.cli("status").status == 0)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let daemon = try ControlledDrover(Self.one)
        daemon.drover.waitForLine("web:web RUNNING")
        guard let fd = RawHTTP.connectUnix(daemon.socket) else { Issue.record("no connection"); return }
        defer { close(fd) }
        let one = "GET /v1/status?name=web HTTP/1.1\r\nHost: x\r\n\r\n"
        RawHTTP.send(fd, Array((one + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + one.replacingOccurrences(of: "Host: x", with: "Host: x\r\nConnection: close")).utf8))
        let text = RawHTTP.readAll(fd)
        let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        #expect(statuses == ["200", "404", "200"])
    }

    @Test func manyClientsAtOnceAndASlowFollowerIsDropped() throws {
        let daemon = try ControlledDrover("""
            [program:flood]
            command = /bin/sh -c 'while :; do head -c 2000000 /dev/zero | tr "\\0" x; echo; sleep 0.2; done'
            stdout_mirror = false
            stdout_logfile = NONE
            """)
        daemon.drover.waitForLine("flood:flood RUNNING")
        // A follower that never reads.
        guard let lazy = RawHTTP.connectUnix(daemon.socket) else { Issue.record("no connection"); return }
        var small: Int32 = 4096
        setsockopt(lazy, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        RawHTTP.send(lazy, Array("GET /v1/processes/flood/log?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n".utf8))

        let group = DispatchGroup()
        let failures = LockedData()
        let socketPath = daemon.socket
        for _ in 0..<40 {
            group.enter()
            DispatchQueue.global().async {
                if RawHTTP.get(unix: socketPath, "/v1/status")?.status != 200 { failures.append(Data([1])) }
                group.leave()
            }
        }
        #expect(group.wait(timeout: .now() + 20) == .success)
        #expect(failures.get().isEmpty, "every concurrent client answered")
        // The lazy follower's connection is closed once it is too far behind.
        usleep(3_000_000)
        #expect(waitUntil(timeout: 10) {
            var buffer = [UInt8](repeating: 0, count: 65536)
            var total = 0
            while true {
                let n = recv(lazy, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n == 0 { return true }
                if n < 0 { return false }
                total += n
                if total > 64 << 20 { return false }
            }
        }, "a follower that stops reading is dropped")
        close(lazy)
        #expect(RawHTTP.get(unix: daemon.socket, "/v1/status")?.status == 200)
    }
}
