import Foundation
import Testing

/// `drover run --dry-run`: start-up short of binding, writing and spawning.
/// It says what would start (exit 0) or every reason it would not (exit 1),
/// and leaves no trace: no socket, no log file, no process, no port taken.
@Suite struct DryRunTests {
    @Test func aGoodConfigSaysWhatWouldStartAndTouchesNothing() throws {
        let dir = TempDir("dry-run")
        defer { dir.cleanup() }
        let ports = TestPorts.block(3)
        let path = dir.write("supervisor.conf", """
            [unix_http_server]
            file = %(here)s/drover.sock

            [supervisord]
            logfile = %(here)s/drover.log
            admin_listen = 127.0.0.1:\(ports + 2)

            [program:web]
            command = /bin/sh -c 'touch %(here)s/spawned; exec sleep 5'
            port = \(ports + 1)
            stdout_logfile = %(here)s/web.log

            [proxy:front]
            listen = localhost:\(ports)
            upstream = web
            access_log = %(here)s/access.log
            """)
        let run = try runCommand(Binaries.drover, ["run", "--dry-run", "-c", path], timeout: 10)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("drover run would start 1 process (1 at once) from \(path)"), "\(run.stdout)")
        #expect(run.stdout.contains("control socket \(dir.path)/drover.sock (mode 700)"), "\(run.stdout)")
        #expect(run.stdout.contains("[proxy:front] listening on localhost:\(ports) for web"), "\(run.stdout)")
        #expect(run.stdout.contains("admin listener 127.0.0.1:\(ports + 2)"), "\(run.stdout)")
        #expect(run.stdout.hasSuffix("OK: nothing was bound, written or spawned\n"), "\(run.stdout)")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(left == ["supervisor.conf"], "a dry run leaves nothing behind: \(left)")
        #expect((0..<3).allSatisfy { TestPorts.isFree(ports + $0) }, "no port bound")
    }

    @Test func aConfigRunWouldRefuseNamesEveryReasonAndTouchesNothing() throws {
        let dir = TempDir("dry-refuse")
        defer { dir.cleanup() }
        let port = TestPorts.block(2)
        let long = dir.path + "/" + String(repeating: "s", count: 120) + ".sock"
        try FileManager.default.createDirectory(atPath: dir.file("access.log"), withIntermediateDirectories: true)
        let path = dir.write("supervisor.conf", """
            [unix_http_server]
            file = \(long)

            [program:web]
            command = /bin/sh -c 'touch %(here)s/spawned; exec sleep 5'
            port = \(port + 1)

            [proxy:front]
            listen = 127.0.0.1:\(port)
            upstream = web
            access_log = %(here)s/access.log
            """)
        let check = try runCommand(Binaries.drover, ["check", "-c", path])
        #expect(check.status == 0, "check accepts it: \(check.stderr)")
        let dry = try runCommand(Binaries.drover, ["run", "--dry-run", "-c", path], timeout: 10)
        #expect(dry.status == 1, "\(dry.stdout)\(dry.stderr)")
        #expect(dry.stderr.contains("error: bind \(long) (unix socket paths are limited to 107 bytes)"), "\(dry.stderr)")
        #expect(dry.stderr.contains("error: [proxy:front] access_log \(dir.path)/access.log: is a directory"), "\(dry.stderr)")
        #expect(dry.stderr.contains("drover run would refuse to start (2 problems)"), "\(dry.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("spawned")), "nothing spawned")
        #expect(TestPorts.isFree(port), "no port bound")
        // And run itself refuses with the same reasons, before binding anything.
        let run = try runCommand(Binaries.drover, ["run", "-c", path], timeout: 10)
        #expect(run.status == 1 && run.stderr.contains("drover: [proxy:front] access_log \(dir.path)/access.log: is a directory"),
                "status \(run.status): \(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("spawned")), "nothing spawned")
    }

    @Test func aProxyOnLocalhostAndAnAdminOnIPv6Start() throws {
        // Before: check said OK and run refused both (`listen localhost:…:
        // Invalid argument`, `bind ::1:… (not an IPv4 address)`).
        let ports = TestPorts.block(3)
        let dir = TempDir("localhost-listen")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [supervisord]
            admin_listen = [::1]:\(ports + 2)

            [unix_http_server]
            file = %(here)s/drover.sock

            [program:web]
            command = \(Binaries.demoWorker) --port %(port)s
            port = \(ports + 1)
            startsecs = 0

            [proxy:front]
            listen = localhost:\(ports)
            upstream = web
            """, in: dir)
        defer { drover.terminate() }
        #expect(waitUntil(timeout: 10) { RawHTTP.get(port: ports, "/health")?.status == 200 },
                "the proxy answers on localhost:\(ports): \(drover.transcript)")
        #expect(waitUntil(timeout: 5) { healthOverIPv6(port: ports + 2)?.hasPrefix("HTTP/1.1 200") == true },
                "the admin listener answers on [::1]:\(ports + 2): \(drover.transcript)")
    }
}

/// `GET /healthz` to [::1]:port; the whole answer, nil without a connection.
private func healthOverIPv6(port: Int) -> String? {
    let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET6, "::1", &address.sin6_addr)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
    }
    guard connected == 0 else { return nil }
    RawHTTP.setTimeout(fd, seconds: 5)
    RawHTTP.send(fd, Array("GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8))
    return RawHTTP.readAll(fd)
}
