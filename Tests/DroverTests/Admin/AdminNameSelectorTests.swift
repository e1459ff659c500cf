import Testing
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

@Suite struct AdminNameSelectorTests {
    typealias Entry = NameSelector.Entry
    // web is a program pool; "backend" is a [group:backend] holding programs api and jobs.
    let entries = [
        Entry(group: "web", process: "web_00", program: "web"),
        Entry(group: "web", process: "web_01", program: "web"),
        Entry(group: "backend", process: "api", program: "api"),
        Entry(group: "backend", process: "jobs_0", program: "jobs"),
        Entry(group: "backend", process: "jobs_1", program: "jobs"),
        Entry(group: "model", process: "model", program: "model"),
    ]

    func resolve(_ names: String...) -> Result<[Int], NameSelector.UnknownNames> {
        NameSelector.resolve(names, in: entries)
    }

    @Test func adminExactNamesSelectOneProcess() {
        #expect(resolve("web:web_01") == .success([1]))
        #expect(resolve("backend:jobs_0") == .success([3]))
        #expect(resolve("model:model") == .success([5]))
    }

    @Test func adminGroupsProgramsAndAll() {
        #expect(resolve("web") == .success([0, 1]))
        #expect(resolve("web:*") == .success([0, 1]))
        #expect(resolve("backend") == .success([2, 3, 4]))
        #expect(resolve("backend:*") == .success([2, 3, 4]))
        #expect(resolve("jobs") == .success([3, 4]), "a program inside a group by its own name")
        #expect(resolve("all") == .success([0, 1, 2, 3, 4, 5]))
        #expect(resolve("model") == .success([5]))
    }

    @Test func adminBareProcessNames() {
        #expect(resolve("web_01") == .success([1]))
        #expect(resolve("jobs_1") == .success([4]))
        let ambiguous = [Entry(group: "a", process: "w0", program: "a"), Entry(group: "b", process: "w0", program: "b")]
        #expect(NameSelector.resolve(["w0"], in: ambiguous) == .failure(.init(names: ["w0"])))
    }

    @Test func adminResultsAreSortedAndUnique() {
        #expect(resolve("backend:api", "web", "web:web_00", "model") == .success([0, 1, 2, 5]))
        #expect(resolve("all", "web") == .success([0, 1, 2, 3, 4, 5]))
        #expect(resolve() == .success([]))
    }

    @Test func adminUnknownNamesAreAllReported() {
        #expect(resolve("x") == .failure(.init(names: ["x"])))
        #expect(resolve("x").description.contains("no such process: 'x'"))
        let result = resolve("web", "nope", "web:web_99", "ghost:*", "jobs:jobs_0", "web:")
        guard case .failure(let error) = result else { Issue.record("unknown names were accepted"); return }
        #expect(error.names == ["nope", "web:web_99", "ghost:*", "jobs:jobs_0", "web:"])
        #expect(error.description == "no such process: 'nope', 'web:web_99', 'ghost:*', 'jobs:jobs_0', 'web:'")
        #expect(NameSelector.resolve(["all"], in: []) == .failure(.init(names: ["all"])), "all of nothing is nothing to act on")
    }

    @Test func adminNamesAreCaseSensitive() {
        #expect(resolve("WEB") == .failure(.init(names: ["WEB"])))
        #expect(resolve("ALL") == .failure(.init(names: ["ALL"])))
    }
}

extension Result where Success == [Int], Failure == NameSelector.UnknownNames {
    var description: String {
        switch self {
        case .success(let indices): "\(indices)"
        case .failure(let error): error.description
        }
    }
}
