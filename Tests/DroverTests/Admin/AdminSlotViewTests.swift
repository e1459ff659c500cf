import Foundation
import Testing
@testable import Admin
@testable import Config
@testable import Control

/// Each worker's slot in `/v1/status` JSON, `/metrics` and the status page.
@Suite struct AdminSlotViewTests {
    func pool() -> StatusSnapshot {
        var pinned = AdminFixtures.process("m:m_1", .running, pid: 10, port: 8001)
        pinned.slot = Slot(index: 1, cpus: 2, cores: [2, 3], node: 1, gpu: "1")
        var loose = AdminFixtures.process("m:m_0", .running, pid: 11, port: 8000)
        loose.slot = Slot(index: 0, cpus: 1)
        let plain = AdminFixtures.process("cron", .running, pid: 12)
        return AdminFixtures.snapshot([loose, pinned, plain])
    }

    @Test func jsonHasTheSlot() {
        let processes = pool().processes
        #expect(processes[1].json["slot"]?.json == #"{"index":1,"cpus":2,"cores":[2,3],"node":1,"gpu":"1"}"#)
        #expect(processes[0].json["slot"]?.json == #"{"index":0,"cpus":1,"cores":[],"node":null,"gpu":null}"#)
        #expect(processes[2].json["slot"]?.isNull == true)
    }

    @Test func metricsHaveTheSlotAndItsCPUs() {
        let text = PrometheusMetrics.render(pool())
        #expect(text.contains(#"drover_process_slot{process="m:m_1",group="m",program="m",cores="2,3",node="1",gpu="1"} 1"#))
        #expect(text.contains(#"drover_process_slot{process="m:m_0",group="m",program="m",cores="",node="",gpu=""} 0"#))
        #expect(text.contains(#"drover_process_slot_cpus{process="m:m_1",group="m",program="m"} 2"#))
        #expect(!text.contains(#"drover_process_slot{process="cron""#))
    }

    @Test func pageShowsTheSlot() {
        let html = StatusPage.render(pool())
        #expect(html.contains("<th>slot</th>"))
        #expect(html.contains("<td class=\"slot\">1 · cores 2-3 · node 1 · gpu 1</td>"))
        #expect(html.contains("<td class=\"slot\">0</td>"))
    }
}
