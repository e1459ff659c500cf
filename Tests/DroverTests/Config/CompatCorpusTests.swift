import Foundation
import Testing

/// Runs the real `drover check` over every supervisord.conf of the
/// compatibility corpus and compares with what supervisord itself did
/// (SOURCES.md): files supervisord accepts must pass; files it refused for
/// host-specific reasons must fail here exactly when those reasons hold on
/// this host, naming each of them.
@Suite struct ConfigCompatCorpusTests {
    static let corpus = Binaries.packageRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/compat/supervisord")

    struct Expectation {
        var file: String
        var accepted: Bool
        /// supervisord's process count once the host-specific causes are fixed.
        var processes: Int?
        var missingDirs: [String] = []
        var unknownUsers: [String] = []
        var unsetVariables: [String] = []
    }

    /// Reads SOURCES.md's table.
    static func expectations() throws -> [String: Expectation] {
        let text = try String(contentsOf: corpus.appendingPathComponent("SOURCES.md"), encoding: .utf8)
        var result: [String: Expectation] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 7, cells[1].hasSuffix(".conf") else { continue }
            let file = cells[1]
            let verdict = cells[6]
            var e = Expectation(file: file, accepted: verdict.hasPrefix("yes"))
            if let r = verdict.range(of: #"(\d+) process\(es\)"#, options: .regularExpression) {
                e.processes = Int(verdict[r].split(separator: " ")[0])
            }
            if !e.accepted {
                var causes = verdict
                if let colon = causes.firstIndex(of: ":") { causes = String(causes[causes.index(after: colon)...]) }
                if let end = causes.range(of: "; parses") { causes = String(causes[..<end.lowerBound]) }
                for cause in causes.components(separatedBy: "; ") {
                    let c = cause.trimmingCharacters(in: .whitespaces)
                    let quoted = c.split(separator: "'", omittingEmptySubsequences: false).enumerated()
                        .filter { $0.offset % 2 == 1 }.map { String($0.element) }
                    if c.hasPrefix("missing dir ") {
                        e.missingDirs += c.dropFirst("missing dir ".count).components(separatedBy: ", ")
                    } else if c.hasPrefix("unknown user ") {
                        e.unknownUsers += quoted
                    } else if c.hasPrefix("unknown chown ") {
                        e.unknownUsers += quoted.map { String($0.split(separator: ":")[0]) }
                    } else if c.hasPrefix("unset env ") {
                        e.unsetVariables += c.dropFirst("unset env ".count).components(separatedBy: ", ")
                    }
                    // Anything else (a Python plugin that is not installed) is
                    // not a cause drover can have: it has no plugins.
                }
            }
            result[file] = e
        }
        return result
    }

    static let minimalEnvironment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root"]

    static func lines(of text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
            .filter { let t = $0.trimmingCharacters(in: .whitespaces); return !t.hasPrefix(";") && !t.hasPrefix("#") }
    }

    @Test func everyCorpusFileBehavesAsSupervisordDid() throws {
        let expectations = try Self.expectations()
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)
            .filter { $0.hasSuffix(".conf") }.sorted()
        #expect(files.count == 40)
        #expect(expectations.count == 40)
        var passed = 0
        for name in files {
            let path = Self.corpus.appendingPathComponent(name).path
            let here = Self.corpus.path
            guard let e = expectations[name] else {
                Issue.record("\(name) is not in SOURCES.md")
                continue
            }
            // "\r\n" is one Character in Swift: normalise before splitting lines.
            let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "\r\n", with: "\n")
            let live = Self.lines(of: text)

            // Causes that hold on this host.
            var dirs = e.missingDirs.map { $0.replacingOccurrences(of: "%(here)s", with: here) }
            // The checking host had Debian's supervisor package, which
            // creates /var/log/supervisor; treat it like the listed dirs.
            if live.contains(where: { $0.contains("/var/log/supervisor/") }) { dirs.append("/var/log/supervisor") }
            var isDir: ObjCBool = false
            let missingDirs = dirs.filter { !(FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && isDir.boolValue) }
            let passwd = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? ""
            let knownUsers = Set(passwd.split(separator: "\n").map { String($0.split(separator: ":").first ?? "") })
            let unknownUsers = e.unknownUsers.filter { !knownUsers.contains($0) }
            let unset = e.unsetVariables.filter { Self.minimalEnvironment[String($0.dropFirst(4))] == nil }
            let shouldFail = !missingDirs.isEmpty || !unknownUsers.isEmpty || !unset.isEmpty

            let r = try runCommand(Binaries.drover, ["check", "-c", path], environment: Self.minimalEnvironment)
            let context = "\(name):\nstdout:\n\(r.stdout)\nstderr:\n\(r.stderr)"
            if shouldFail {
                #expect(r.status == 1, "expected exit 1: \(context)")
                #expect(r.stderr.contains(path), "stderr must name the file: \(context)")
                for dir in missingDirs {
                    let standard = (dir as NSString).standardizingPath
                    #expect(r.stderr.contains(dir) || r.stderr.contains(standard), "stderr must name missing dir \(dir): \(context)")
                }
                for user in unknownUsers {
                    #expect(r.stderr.contains("'\(user)'"), "stderr must name unknown user \(user): \(context)")
                }
                for variable in unset {
                    #expect(r.stderr.contains(variable), "stderr must name \(variable): \(context)")
                }
            } else {
                #expect(r.status == 0, "expected exit 0: \(context)")
                #expect(r.stdout.contains("OK: "), "\(context)")
                // supervisord counts event listener processes too; drover skips them.
                let listeners = live.filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("[eventlistener:") }.count
                if let n = e.processes {
                    #expect(r.stdout.contains(" \(n - listeners) process"), "expected \(n - listeners) processes: \(context)")
                }
            }
            // Every error names its line.
            for line in r.stderr.split(separator: "\n") where line.hasPrefix("error: ") {
                #expect(line.hasPrefix("error: \(path):"), "\(line)")
                let afterPath = line.dropFirst("error: \(path):".count)
                #expect(afterPath.prefix { $0.isNumber }.count > 0, "error without a line number: \(line)")
            }
            // Errors, then warnings, each in line order (one file here), then one summary line.
            let diagnostics = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") || $0.hasPrefix("warning: ") }
            let kinds = diagnostics.map { $0.hasPrefix("error: ") ? 0 : 1 }
            #expect(kinds == kinds.sorted(), "errors before warnings: \(context)")
            for kind in [0, 1] {
                let lineNumbers = zip(kinds, diagnostics).filter { $0.0 == kind }.compactMap { d -> Int? in
                    guard let range = d.1.range(of: path + ":") else { return nil }
                    return Int(d.1[range.upperBound...].prefix { $0.isNumber })
                }
                #expect(lineNumbers == lineNumbers.sorted(), "line order: \(context)")
            }
            let summaries = (r.stdout + r.stderr).split(separator: "\n").filter { $0.hasPrefix("OK: ") || $0.hasPrefix("FAILED: ") }
            #expect(summaries.count == 1, "one summary line: \(context)")
            // supervisord's XML-RPC boilerplate is no news.
            #expect(!r.stderr.contains("[rpcinterface:supervisor]"), "\(context)")
            // Sections drover skips are reported, once each, with their line
            // ([fcgi-program:x] is not skipped: drover runs it).
            for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let t = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                guard t.hasPrefix("[eventlistener:") || t.hasPrefix("[inet_http_server]") else { continue }
                let section = String(t.prefix { $0 != "]" }) + "]"
                let warning = "warning: \(path):\(index + 1): \(section)"
                let count = r.stderr.components(separatedBy: warning).count - 1
                #expect(count == 1, "expected one warning `\(warning)`: \(context)")
            }
            if r.status == (shouldFail ? 1 : 0) { passed += 1 }
        }
        #expect(passed == 40)
    }
}
