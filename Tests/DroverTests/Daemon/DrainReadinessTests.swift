import Foundation
import Testing

/// SPEC §5/§6 and issue 14: the moment a graceful drain begins the proxy
/// stops accepting, so `/readyz` must say 503 from that moment (a
/// Kubernetes Service stops sending), while `/healthz` stays 200 (the pod
/// is alive and finishing its requests).
@Suite struct DrainReadinessTests {
    @Test func readyzIs503FromTheStartOfTheDrainWhileHealthzStays200() throws {
        let dir = TempDir("drain-readyz")
        defer { dir.cleanup() }
        let admin = TestPorts.block(4)
        let drover = try DroverHarness(config: """
            [supervisord]
            admin_listen = 127.0.0.1:\(admin)
            shutdown_timeout = 20s

            [program:web]
            command = \(Binaries.demoWorker) --port %(port)s --test-routes
            port = \(admin + 1)
            startsecs = 0

            [proxy:front]
            listen = 127.0.0.1:\(admin + 2)
            upstream = web
            """, in: dir)
        defer { drover.terminate() }
        #expect(waitUntil(timeout: 10) { RawHTTP.get(port: admin, "/readyz")?.status == 200 })

        // One slow request keeps the drain going for about 3 s.
        let answered = Box<RawHTTP.Reply?>(nil)
        let client = Thread { answered.value = RawHTTP.get(port: admin + 2, "/sleep?ms=3000") }
        client.start()
        usleep(300_000)
        drover.signal(SIGTERM)
        drover.waitForLine("graceful shutdown")
        let ready = RawHTTP.get(port: admin, "/readyz")
        #expect(ready?.status == 503, "draining: \(ready.map { "\($0.status) \($0.body)" } ?? "no answer")")
        #expect(RawHTTP.get(port: admin, "/healthz")?.status == 200, "alive while it drains")
        #expect(waitUntil(timeout: 10) { answered.value != nil }, "the in-flight request is finished")
        #expect(answered.value?.status == 200)
        #expect(drover.waitForExit() == 0)
    }
}

/// A value a test thread fills and the test reads.
final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
