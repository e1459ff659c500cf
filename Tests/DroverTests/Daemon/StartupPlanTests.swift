import Foundation
import Testing
@testable import Config
@testable import Runtime

/// Issue 14 item 8: the plan `drover run` makes of a loaded config before
/// it binds or spawns anything (the daemon starts from it, `--dry-run` and
/// the config fuzzer stop at it). What check accepts is planned or refused
/// with one reason per problem; nothing here touches a socket.
@Suite struct StartupPlanTests {
    private func plan(_ f: ConfigFixture, _ text: String, env: [String: String] = [:], tini: Bool = false,
                      files: StartupPlan.FileAccess = .readOnly) throws -> StartupPlan {
        let config = try f.load(text, env: env)
        return try StartupPlan.make(config: config, environment: env, tiniMode: tini, users: f.users, files: files)
    }

    private func refusal(_ f: ConfigFixture, _ text: String, env: [String: String] = [:]) throws -> [String] {
        let config = try f.load(text, env: env)
        do throws(StartupPlan.Refusal) {
            _ = try StartupPlan.make(config: config, environment: env, users: f.users, files: .readOnly)
            Issue.record("expected the start to be refused")
            return []
        } catch {
            return error.reasons
        }
    }

    @Test func listenersOnLocalhostAndIPv6ArePlanned() throws {
        // Before: check said OK to both and run refused them (the proxy's
        // listener knew no `localhost`, the admin's no IPv6).
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let p = try plan(f, """
            [supervisord]
            admin_listen = [::1]:9100
            [program:web]
            command = /bin/sleep 5
            port = 9000
            [proxy:front]
            listen = localhost:9200
            upstream = web
            """)
        #expect(p.admin == .tcp(host: "::1", port: 9100))
        #expect(p.proxies.map(\.listen) == [.tcp(host: "localhost", port: 9200)])
        #expect(p.reservedPorts == [9100, 9200])
        #expect(p.descriptorLimit == 65536, "a proxy asks for 65536 descriptors")
        #expect(p.processCount == 1 && p.autostartCount == 1)
    }

    @Test func everyReasonToRefuseIsSaidAtOnce() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let long = f.dir.path + "/" + String(repeating: "s", count: 120) + ".sock"
        for name in ["access.log", "drover.log"] {
            try FileManager.default.createDirectory(atPath: f.dir.file(name), withIntermediateDirectories: true)
        }
        let reasons = try refusal(f, """
            [unix_http_server]
            file = \(long)
            [supervisord]
            logfile = %(here)s/drover.log
            [program:web]
            command = /bin/sleep 5
            port = 9001
            [proxy:front]
            listen = 127.0.0.1:9201
            upstream = web
            access_log = %(here)s/access.log
            """)
        #expect(reasons.count == 3, "\(reasons)")
        #expect(reasons.contains { $0.contains(long) && $0.contains("unix socket paths are limited to 107 bytes") }, "\(reasons)")
        #expect(reasons.contains { $0 == "logfile \(f.dir.path)/drover.log: is a directory" }, "\(reasons)")
        #expect(reasons.contains { $0 == "[proxy:front] access_log \(f.dir.path)/access.log: is a directory" }, "\(reasons)")
    }

    @Test func aFileInTheWayOfTheControlSocketIsARefusal() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        f.write("not-a-socket", "x")
        let reasons = try refusal(f, "[unix_http_server]\nfile = %(here)s/not-a-socket\n[program:a]\ncommand = /bin/sleep 5\n")
        #expect(reasons == ["bind \(f.dir.path)/not-a-socket: a file that is not a socket is in the way"], "\(reasons)")
    }

    @Test func aUnixListenerInADirectoryThatDoesNotExistIsARefusal() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let reasons = try refusal(f, """
            [program:web]
            command = /bin/sleep 5
            port = 9003
            [proxy:front]
            listen = unix:%(here)s/gone/front.sock
            upstream = web
            """)
        #expect(reasons == ["[proxy:front] listen unix:\(f.dir.path)/gone/front.sock: directory \(f.dir.path)/gone does not exist"],
                "\(reasons)")
    }

    @Test func theDefaultControlSocketIsBestEffort() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let long = "/tmp/" + String(repeating: "d", count: 120)
        let p = try plan(f, "[program:a]\ncommand = /bin/sleep 5\n", env: ["DROVER_SOCKET": long])
        #expect(p.control == nil)
        #expect(p.warnings.contains { $0.hasPrefix("no control socket (") && $0.contains(long) }, "\(p.warnings)")
        let local = try plan(f, "[program:a]\ncommand = /bin/sleep 5\n")
        #expect(local.control?.path == "drover.sock" && local.control?.explicit == false)
        // A lone tini-style child gets none unless asked for.
        #expect(try plan(f, "[program:a]\ncommand = /bin/sleep 5\n", tini: true).control == nil)
    }

    @Test func theSocketOwnerIsLookedUpOnce() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let p = try plan(f, "[unix_http_server]\nfile = %(here)s/d.sock\nchmod = 0660\nchown = app:docker\n[program:a]\ncommand = /bin/sleep 5\n")
        #expect(p.control?.mode == 0o660)
        #expect(p.control?.ownerIDs?.uid == 1000 && p.control?.ownerIDs?.gid == 999)
        #expect(p.warnings.isEmpty, "\(p.warnings)")
    }

    @Test func withoutFileAccessNothingIsLookedAt() throws {
        // The fuzzer's mode: the same config plans, whatever is on disk.
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        f.write("in-the-way", "x")
        try FileManager.default.createDirectory(atPath: f.dir.file("drover.log"), withIntermediateDirectories: true)
        let p = try plan(f, "[unix_http_server]\nfile = %(here)s/in-the-way\n[supervisord]\nlogfile = %(here)s/drover.log\n[program:a]\ncommand = /bin/sleep 5\n",
                         files: .none)
        #expect(p.control?.path == f.dir.file("in-the-way"))
    }
}
