import Foundation
import Testing

/// drover's CPU time so far, in clock ticks (utime + stime of /proc/PID/stat).
func cpuTicks(_ pid: Int32) -> Int? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    // Fields after "pid (comm)": state is field 3, utime 14, stime 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
    return user + system
}

/// Resident memory in KiB (VmRSS of /proc/PID/status).
func residentKiB(_ pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    }
    return nil
}

/// Clock ticks per second for the figures above.
let ticksPerSecond = Int(sysconf(Int32(_SC_CLK_TCK)))

/// The control socket and admin listener under the conditions the old
/// server got wrong: half-closed clients, descriptor exhaustion, large
/// unauthenticated bodies.
@Suite struct ControlIOTests {
    @Test func halfClosedClientGetsALargeStatusWholeWhileDroverStaysIdle() throws {
        // 300 processes with 1000-byte names: /v1/status is about 1.5 MB,
        // several times what the socket buffers hold.
        let name = String(repeating: "p", count: 1000)
        let daemon = try ControlledDrover("""
            [program:\(name)]
            command = /bin/sleep 1000
            process_name = %(program_name)s_%(process_num)03d
            numprocs = 300
            autostart = false
            stdout_logfile = NONE
            stderr_logfile = NONE
            """, label: "halfclose")
        let pid = daemon.drover.pid
        guard let fd = RawHTTP.connectUnix(daemon.socket) else { Issue.record("no connection"); return }
        defer { close(fd) }
        RawHTTP.send(fd, Array("GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(shutdown(fd, Int32(SHUT_WR)) == 0, "the client is done sending")
        // The first bytes mean the answer is built and queued; then the client stalls.
        var byte: UInt8 = 0
        #expect(recv(fd, &byte, 1, Int32(MSG_PEEK)) == 1)
        let before = cpuTicks(pid) ?? 0
        usleep(1_500_000)
        let spent = (cpuTicks(pid) ?? 0) - before
        // Spinning on a level-triggered RDHUP is a whole core: 1.5 s of CPU.
        #expect(spent <= ticksPerSecond / 2, "drover used \(spent) ticks in 1.5 s with an answer pending to a half-closed client")

        let text = RawHTTP.readAll(fd)
        let reply = RawHTTP.parse(text)
        #expect(reply?.status == 200)
        let declared = reply?.head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
        #expect(declared ?? 0 > 1_000_000)
        #expect(reply?.body.utf8.count == declared, "the whole answer, not a truncated one")
        let processes = RawHTTP.json(reply)?["processes"] as? [[String: Any]]
        #expect(processes?.count == 300)
        #expect(RawHTTP.get(unix: daemon.socket, "/v1/status?name=\(name)_000")?.status == 200, "still serving")
    }

    @Test func controlSocketSurvivesDescriptorExhaustionWithoutSpinning() throws {
        let dir = TempDir("emfile")
        defer { dir.cleanup() }
        let socket = dir.file("drover.sock")
        let config = dir.write("supervisor.conf", """
            [unix_http_server]
            file = \(socket)

            [program:web]
            command = /bin/sleep 1000
            startsecs = 0
            stdout_logfile = NONE
            stderr_logfile = NONE
            """)
        // Few descriptors: a handful of clients exhaust them.
        let drover = try DroverHarness(arguments: ["--nofile=24:24", Binaries.drover, "run", "-c", config],
                                       directory: dir.path, executable: "/usr/bin/prlimit")
        defer { drover.terminate() }
        drover.waitForLine("web:web RUNNING")
        #expect(RawHTTP.get(unix: socket, "/v1/status")?.status == 200)

        var clients: [Int32] = []
        defer { for fd in clients { close(fd) } }
        for _ in 0..<40 {
            guard let fd = RawHTTP.connectUnix(socket) else { break }
            clients.append(fd)
        }
        #expect(clients.count == 40, "connections wait in the backlog")
        #expect(drover.waitForLine("accept", "Too many open files") != nil)
        let before = cpuTicks(drover.pid) ?? 0
        usleep(1_000_000)
        let spent = (cpuTicks(drover.pid) ?? 0) - before
        // Retrying accept on a readable listener it cannot accept from is a whole core.
        #expect(spent <= ticksPerSecond / 4, "drover used \(spent) ticks in 1 s out of descriptors")

        for fd in clients { close(fd) }
        clients = []
        #expect(waitUntil(timeout: 10) { RawHTTP.get(unix: socket, "/v1/status")?.status == 200 },
                "serving again once the clients are gone")
        let idle = cpuTicks(drover.pid) ?? 0
        usleep(500_000)
        #expect((cpuTicks(drover.pid) ?? 0) - idle <= ticksPerSecond / 10, "and idle afterwards")
        #expect(drover.process.isRunning)
    }

    @Test func unauthenticatedLargePostToAdminIsRefusedOnItsHead() throws {
        let dir = TempDir("adminbody")
        defer { dir.cleanup() }
        dir.write("token", "t0ken-for-body-test\n")
        chmod(dir.file("token"), 0o600)
        let port = 24960
        let drover = try DroverHarness(config: """
            [supervisord]
            admin_listen = 127.0.0.1:\(port)
            admin_token_file = %(here)s/token

            [program:web]
            command = /bin/sleep 1000
            startsecs = 0
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("web:web RUNNING")
        #expect(waitUntil { RawHTTP.get(port: port, "/healthz")?.status == 200 })
        let bodySize = 9 << 20
        let head = "POST /v1/processes/web/stop HTTP/1.1\r\nHost: x\r\nContent-Length: \(bodySize)\r\n\r\n"

        // The answer comes before a single byte of the body is sent.
        if let fd = RawHTTP.connectTCP(port: port) {
            RawHTTP.send(fd, Array(head.utf8))
            let reply = RawHTTP.parse(RawHTTP.readAll(fd))
            #expect(reply?.status == 401)
            #expect(reply?.head.contains("WWW-Authenticate") == true)
            #expect(RawHTTP.json(reply)?["code"] as? String == "unauthorized")
            close(fd)
        }
        // With the token, a body over the 1 MiB cap is refused on its head too.
        if let fd = RawHTTP.connectTCP(port: port) {
            RawHTTP.send(fd, Array(head.replacingOccurrences(of: "Host: x", with: "Host: x\r\nAuthorization: Bearer t0ken-for-body-test").utf8))
            let reply = RawHTTP.parse(RawHTTP.readAll(fd))
            #expect(reply?.status == 413)
            close(fd)
        }

        // Eight clients that send head and body as fast as drover takes it.
        let body = [UInt8](repeating: 0x7B, count: bodySize)
        let rssBefore = residentKiB(drover.pid) ?? 0
        for _ in 0..<8 {
            guard let fd = RawHTTP.connectTCP(port: port) else { Issue.record("no connection"); continue }
            RawHTTP.send(fd, Array(head.utf8))
            var offset = 0
            while offset < body.count {
                let n = body[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                if n <= 0 { break }
                offset += n
            }
            let reply = RawHTTP.parse(RawHTTP.readAll(fd))
            #expect(reply?.status == 401, "refused after \(offset) body bytes were sent")
            close(fd)
        }
        let rssAfter = residentKiB(drover.pid) ?? 0
        #expect(rssAfter - rssBefore < 4096, "RSS went from \(rssBefore) to \(rssAfter) KiB across eight 9 MiB bodies")
        #expect(drover.lines(containing: "web:web STOPPING").isEmpty, "nothing changed")
        #expect(RawHTTP.get(port: port, "/healthz")?.status == 200)
    }
}
