import Foundation
import Glibc
import Testing
@testable import Supervision

/// `max_memory` for a preloaded worker judges its private pages: a worker
/// forked from a template holding a 100 MiB model has an RSS past 100 MiB
/// but only a few MiB of its own.
@Suite struct PrivateMemoryTests {
    @Test func aForkedWorkerCountsTheSharedModelInRSSButNotInPrivateMemory() throws {
        let dir = TempDir("preload-memory"); defer { dir.cleanup() }
        let template = try PreloadTemplateTests.start("load_large", in: dir); defer { template.stop() }
        guard case .hello(let templatePid, _) = try template.receive(timeout: 30) else {
            Issue.record("no hello: \(template.stderrText)"); return
        }
        let port = TestPorts.block(1)
        try template.send(.fork(slot: 0, port: UInt16(port), environment: []))
        guard case .forked(0, let worker) = try template.receive() else { Issue.record("no forked"); return }
        #expect(waitUntil(timeout: 10) { RawHTTP.get(port: port, "/") != nil }, "worker serves")

        let mebibyte = 1 << 20
        let rss = try #require(MemoryWatch.rssByProcessGroup()[worker])
        let privateBytes = try #require(PrivateMemory.bytes(ofProcessGroup: worker))
        let templatePrivate = try #require(PrivateMemory.bytes(ofProcess: templatePid))
        #expect(rss > 100 * mebibyte, "the model's pages are mapped in the worker (RSS \(rss / mebibyte) MiB)")
        #expect(privateBytes < 40 * mebibyte, "but it owns few of them (private \(privateBytes / mebibyte) MiB)")
        // The template stops owning them alone once shared: its private memory fell below the model's size.
        #expect(templatePrivate < 100 * mebibyte, "template private \(templatePrivate / mebibyte) MiB")
        // A process's private bytes and its group's agree for a worker that started nothing.
        let own = try #require(PrivateMemory.bytes(ofProcess: worker))
        #expect(abs(own - privateBytes) < 4 * mebibyte)
        #expect(PrivateMemory.bytes(ofProcess: 0x7FFF_FFF0) == nil, "no such process: nil, not 0")
    }
}
