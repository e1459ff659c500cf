import Foundation
import Testing

/// `restart --rolling`: every worker replaced, never fewer than N−1 ready,
/// and requests sent to the ready workers all succeed.
@Suite struct RollingRestartTests {
    @Test func replacesEveryWorkerWithoutAFailedRequest() throws {
        let daemon = try ControlledDrover("""
            [program:model]
            command = \(Binaries.demoWorker) --port %(port)s --cost 0.2 --startup-delay 0.2
            process_name = model_%(process_num)02d
            numprocs = 3
            port = 24710
            startsecs = 1
            health_path = /health
            health_interval = 0.5s
            stopwaitsecs = 5
            """, label: "rolling")
        for index in 0..<3 { daemon.drover.waitForLine("model:model_0\(index) ready") }
        let before = Set(daemon.pids("model:"))
        #expect(before.count == 3)

        // Continuous requests, each to a worker the last status called ready;
        // like a proxy with retries = 1, a refused connection goes to the next one.
        let stop = LockedData()
        let outcome = LockedData()  // one byte per request: 1 ok, 0 failed
        let minimumReady = LockedData()
        let socket = daemon.socket
        let load = Thread {
            var ready: [Int] = []
            var lastPoll = Date.distantPast
            var lowest = 3
            while stop.get().isEmpty {
                if Date().timeIntervalSince(lastPoll) > 0.02 {
                    let processes = (RawHTTP.json(RawHTTP.get(unix: socket, "/v1/status"))?["processes"] as? [[String: Any]]) ?? []
                    ready = processes.filter { $0["state"] as? String == "RUNNING" && $0["health"] as? String == "ready" }
                        .compactMap { $0["port"] as? Int }
                    lowest = min(lowest, ready.count)
                    lastPoll = Date()
                }
                guard !ready.isEmpty else { continue }
                var ok = false
                for port in ready.shuffled().prefix(2) {
                    let reply = RawHTTP.exchange(port: port, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\ngreat movie")
                    if reply?.status == 200 { ok = true; break }
                }
                outcome.append(Data([ok ? 1 : 0]))
            }
            minimumReady.set(Data([UInt8(lowest)]))
        }
        load.start()
        usleep(300_000)
        let rolled = try daemon.cli("restart", "--rolling", "model", timeout: 60)
        usleep(300_000)
        stop.append(Data([1]))
        #expect(waitUntil(timeout: 10) { !minimumReady.get().isEmpty })

        #expect(rolled.status == 0, "\(rolled.stdout)\(rolled.stderr)")
        let after = Set(daemon.pids("model:"))
        #expect(after.count == 3)
        #expect(after.isDisjoint(with: before), "every pid replaced")
        let results = outcome.get()
        #expect(results.count > 20, "requests kept flowing (\(results.count))")
        #expect(!results.contains(0), "\(results.filter { $0 == 0 }.count) of \(results.count) requests failed")
        #expect((minimumReady.get().first ?? 0) >= 2, "never fewer than N-1 ready")
        // One at a time: each replacement was ready before the next worker stopped.
        let output = daemon.drover.output
        for index in 0..<2 {
            let ready = output.firstIndex { $0.contains("model:model_0\(index) rolling replacement: pid") }
            let nextStop = output.firstIndex { $0.contains("model:model_0\(index + 1) STOPPING") }
            #expect(ready != nil && nextStop != nil && ready! < nextStop!)
        }
    }
}
