import Foundation
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

/// The subset of YAML the manifests in deploy/kubernetes use: block maps and
/// lists by indentation, `- key: value` list items, plain and quoted
/// scalars, flow lists of scalars (`["a", "b"]`), `{}`, `|` block scalars,
/// and `#` comments. Enough to read them back, not a general YAML parser.
indirect enum MiniYAML: Equatable, CustomStringConvertible {
    case scalar(String)
    case map([String: MiniYAML])
    case list([MiniYAML])

    subscript(key: String) -> MiniYAML? {
        if case .map(let members) = self { return members[key] }
        return nil
    }

    /// `a.b.0.c`: keys and list indices.
    func at(_ path: String) -> MiniYAML? {
        var node: MiniYAML? = self
        for part in path.split(separator: ".") {
            if let index = Int(part), case .list(let items)? = node {
                node = items.indices.contains(index) ? items[index] : nil
            } else {
                node = node?[String(part)]
            }
        }
        return node
    }

    var string: String? { if case .scalar(let text) = self { return text } else { return nil } }
    var int: Int? { string.flatMap { Int($0) } }
    var items: [MiniYAML] { if case .list(let items) = self { return items } else { return [] } }

    var description: String {
        switch self {
        case .scalar(let text): return text.debugDescription
        case .map(let members): return "{" + members.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .list(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        }
    }

    struct Line {
        var indent: Int
        var text: String
        var raw: String
    }

    static func parse(_ source: String) throws -> MiniYAML {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map { raw -> Line in
            let text = String(raw)
            let indent = text.prefix { $0 == " " }.count
            return Line(indent: indent, text: stripComment(String(text.dropFirst(indent))), raw: text)
        }
        var index = 0
        skipBlank(lines, &index)
        guard index < lines.count else { return .map([:]) }
        return try block(lines, &index, indent: lines[index].indent)
    }

    struct SyntaxError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line + 1): \(message)" }
    }

    static func skipBlank(_ lines: [Line], _ index: inout Int) {
        while index < lines.count && lines[index].text.trimmingCharacters(in: .whitespaces).isEmpty { index += 1 }
    }

    static func block(_ lines: [Line], _ index: inout Int, indent: Int) throws -> MiniYAML {
        if lines[index].text.hasPrefix("- ") || lines[index].text == "-" {
            var items: [MiniYAML] = []
            while index < lines.count, lines[index].indent == indent, lines[index].text.hasPrefix("-") {
                let rest = String(lines[index].text.dropFirst(1)).trimmingCharacters(in: .whitespaces)
                if rest.contains(": ") || rest.hasSuffix(":") {
                    // `- key: value …`: a map whose keys sit two columns in.
                    var copy = lines
                    copy[index] = Line(indent: indent + 2, text: rest, raw: lines[index].raw)
                    items.append(try map(copy, &index, indent: indent + 2))
                } else {
                    items.append(parseScalar(rest))
                    index += 1
                }
                skipBlank(lines, &index)
            }
            return .list(items)
        }
        return try map(lines, &index, indent: indent)
    }

    static func map(_ lines: [Line], _ index: inout Int, indent: Int) throws -> MiniYAML {
        var members: [String: MiniYAML] = [:]
        while index < lines.count, lines[index].indent == indent, !lines[index].text.hasPrefix("- ") {
            let text = lines[index].text
            guard let colon = keyColon(text) else { throw SyntaxError(line: index, message: "expected `key: value`: \(text)") }
            let key = unquote(String(text[..<colon]).trimmingCharacters(in: .whitespaces))
            let value = String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            index += 1
            if value == "|" || value == "|-" {
                var body: [String] = []
                var contentIndent: Int?
                while index < lines.count {
                    let raw = lines[index].raw
                    let blank = raw.trimmingCharacters(in: .whitespaces).isEmpty
                    if !blank && lines[index].indent <= indent { break }
                    if !blank && contentIndent == nil { contentIndent = lines[index].indent }
                    body.append(blank ? "" : String(raw.dropFirst(contentIndent ?? 0)))
                    index += 1
                }
                while body.last == "" { body.removeLast() }
                members[key] = .scalar(body.joined(separator: "\n") + (value == "|" ? "\n" : ""))
            } else if value.isEmpty {
                skipBlank(lines, &index)
                if index < lines.count, lines[index].indent > indent
                    || (lines[index].indent == indent && lines[index].text.hasPrefix("- ")) {
                    members[key] = try block(lines, &index, indent: lines[index].indent)
                } else {
                    members[key] = .scalar("")
                }
            } else {
                members[key] = parseScalar(value)
            }
            skipBlank(lines, &index)
        }
        return .map(members)
    }

    static func parseScalar(_ text: String) -> MiniYAML {
        if text == "{}" { return .map([:]) }
        if text == "[]" { return .list([]) }
        if text.hasPrefix("[") && text.hasSuffix("]") {
            let inner = text.dropFirst().dropLast()
            return .list(inner.split(separator: ",").map { .scalar(unquote($0.trimmingCharacters(in: .whitespaces))) })
        }
        return .scalar(unquote(text))
    }

    static func unquote(_ text: String) -> String {
        if text.count >= 2, let first = text.first, first == "\"" || first == "'", text.last == first {
            return String(text.dropFirst().dropLast())
        }
        return text
    }

    /// The colon that ends a key (outside quotes, followed by a space or the end).
    static func keyColon(_ text: String) -> String.Index? {
        var quote: Character?
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c } else if c == ":" {
                let next = text.index(after: index)
                if next == text.endIndex || text[next] == " " { return index }
            }
            index = text.index(after: index)
        }
        return nil
    }

    /// Drops ` # comment` (and whole-line comments) outside quotes.
    static func stripComment(_ text: String) -> String {
        if text.hasPrefix("#") { return "" }
        var quote: Character?
        var previous: Character = " "
        for (offset, c) in text.enumerated() {
            if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c } else if c == "#" && previous == " " {
                return String(text.prefix(offset)).trimmingCharacters(in: .whitespaces)
            }
            previous = c
        }
        return text
    }
}

/// deploy/kubernetes agrees with the supervisor.conf its ConfigMap holds:
/// ports, probe paths, timeouts, and the CPU limit `numprocs = auto` reads.
@Suite struct KubernetesManifestTests {
    static let directory = Binaries.packageRoot.appendingPathComponent("deploy/kubernetes")

    static func manifest(_ name: String) throws -> MiniYAML {
        try MiniYAML.parse(String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8))
    }

    @Test func readerReadsTheSubsetItClaims() throws {
        let doc = try MiniYAML.parse("""
            # comment
            a: 1   # trailing
            b:
              - name: x
                port: 80
              - plain
            c: ["run", "-c", '/etc/x']
            d: {}
            "e.f": "g # not a comment"
            h: |
              [s]
              k = v ; # kept

              last
            i:
            - j
            """)
        #expect(doc.at("a")?.int == 1)
        #expect(doc.at("b.0.name")?.string == "x")
        #expect(doc.at("b.0.port")?.int == 80)
        #expect(doc.at("b.1")?.string == "plain")
        #expect(doc.at("c")?.items.compactMap(\.string) == ["run", "-c", "/etc/x"])
        #expect(doc.at("d") == .map([:]))
        #expect(doc["e.f"]?.string == "g # not a comment")
        #expect(doc.at("h")?.string == "[s]\nk = v ; # kept\n\nlast\n")
        #expect(doc.at("i.0")?.string == "j")
    }

    /// Kubernetes quantities the manifests use: `2`, `500m`, `2Gi`, `512Mi`.
    static func quantity(_ text: String) -> Double? {
        let units: [(String, Double)] = [("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("m", 0.001)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * factor }
        }
        return Double(text)
    }

    @Test func manifestsAgreeWithTheConfig() throws {
        let configMap = try Self.manifest("configmap.yaml")
        let deployment = try Self.manifest("deployment.yaml")
        let service = try Self.manifest("service.yaml")
        let hpa = try Self.manifest("hpa.yaml")
        #expect(configMap.at("kind")?.string == "ConfigMap")
        #expect(deployment.at("kind")?.string == "Deployment")
        #expect(service.at("kind")?.string == "Service")
        #expect(hpa.at("kind")?.string == "HorizontalPodAutoscaler")

        // The config the pod runs: valid for the real binary, read back typed.
        let text = try #require(configMap.at("data")?["supervisor.conf"]?.string, "data: supervisor.conf: |")
        let dir = TempDir("k8s")
        defer { dir.cleanup() }
        let confPath = dir.write("supervisor.conf", text)
        let check = try runCommand(Binaries.drover, ["check", "-c", confPath])
        #expect(check.status == 0, "drover check: \(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("proxy front: listen 0.0.0.0:8080 -> model"), "\(check.stdout)")
        let config = try ConfigLoader.load(path: confPath, environment: [:], for: .check)
        let proxy = try #require(config.proxies.first)
        guard case .tcp(_, let proxyPort) = proxy.listen else { Issue.record("proxy listens on TCP"); return }
        guard case .tcp(_, let adminPort)? = config.supervisord.adminListen else { Issue.record("admin_listen is TCP"); return }
        let program = try #require(config.programs.first { $0.name == proxy.upstream })
        let spec = try #require(program.processes.first)
        // Its workers' thread variables come from the slot, not from `environment =`.
        #expect(spec.environment["OMP_NUM_THREADS"] == "1" && spec.environment["OPENBLAS_NUM_THREADS"] == "1")
        #expect(!text.split(separator: "\n").contains { !$0.trimmingCharacters(in: .whitespaces).hasPrefix(";") && $0.contains("_NUM_THREADS") })

        let pod = try #require(deployment.at("spec.template"))
        let container = try #require(pod.at("spec.containers.0"))
        #expect(container.at("args")?.items.compactMap(\.string) == ["run", "-c", "/etc/drover/supervisor.conf"])
        // The ConfigMap is what is mounted there.
        let mount = try #require(container.at("volumeMounts")?.items.first { $0["mountPath"]?.string == "/etc/drover" })
        let volume = try #require(pod.at("spec.volumes")?.items.first { $0["name"] == mount["name"] })
        #expect(volume.at("configMap.name") == configMap.at("metadata.name"))

        // Ports: the container's http port is the proxy's, admin the admin listener's.
        let ports = container.at("ports")?.items ?? []
        func port(named name: String) -> Int? { ports.first { $0["name"]?.string == name }?["containerPort"]?.int }
        #expect(port(named: "http") == proxyPort)
        #expect(port(named: "admin") == adminPort)

        // Probes: readiness = /readyz, liveness = /healthz, both on the admin port.
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            #expect(container.at("\(probe).httpGet.path")?.string == path, "\(probe)")
            let target = container.at("\(probe).httpGet.port")?.string
            #expect(target == "admin" || Int(target ?? "") == adminPort, "\(probe) targets the admin port, not \(target ?? "nil")")
        }

        // Prometheus scrapes the admin listener's /metrics.
        #expect(pod.at("metadata.annotations")?["prometheus.io/scrape"]?.string == "true")
        #expect(pod.at("metadata.annotations")?["prometheus.io/port"]?.int == adminPort)
        #expect(pod.at("metadata.annotations")?["prometheus.io/path"]?.string == "/metrics")

        // Grace period: preStop sleep + shutdown_timeout + the workers' stopwaitsecs, with room to spare.
        let grace = try #require(pod.at("spec.terminationGracePeriodSeconds")?.int)
        let preStop = container.at("lifecycle.preStop.exec.command")?.items.compactMap { $0.string } ?? []
        #expect(preStop.first?.hasSuffix("sleep") == true, "\(preStop)")
        let preStopSeconds = Double(preStop.last ?? "") ?? 0
        #expect(preStopSeconds >= 2, "endpoints get a few seconds to converge")
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let shutdownTimeout = seconds(config.supervisord.shutdownTimeout), stopwaitsecs = seconds(spec.stopwaitsecs)
        #expect(shutdownTimeout >= 1)
        #expect(Double(grace) > shutdownTimeout)
        #expect(Double(grace) > preStopSeconds + shutdownTimeout + stopwaitsecs,
                "grace \(grace)s vs preStop \(preStopSeconds)s + shutdown_timeout \(shutdownTimeout)s + stopwaitsecs \(stopwaitsecs)s")

        // numprocs = auto sizes to the CPU limit; memory holds that many workers at max_memory.
        #expect(text.contains("numprocs = auto"))
        let cpuLimit = try #require(container.at("resources.limits.cpu")?.string.flatMap(Self.quantity))
        #expect(cpuLimit >= 1 && cpuLimit == cpuLimit.rounded(), "a whole number of CPUs: \(cpuLimit)")
        #expect(container.at("resources.requests.cpu")?.string.flatMap(Self.quantity) == cpuLimit, "Guaranteed QoS")
        let memoryLimit = try #require(container.at("resources.limits.memory")?.string.flatMap(Self.quantity))
        #expect(spec.maxMemory > 0)
        #expect(memoryLimit >= cpuLimit * Double(spec.maxMemory) + 128 * 1_048_576,
                "\(memoryLimit) bytes hold \(cpuLimit) workers of max_memory \(spec.maxMemory)")

        // The control socket sits on a writable volume, and DROVER_SOCKET finds it.
        let socketPath = try #require(config.unixHTTPServer?.file)
        let env = container.at("env")?.items.first { $0["name"]?.string == "DROVER_SOCKET" }
        #expect(env?["value"]?.string == socketPath)
        let socketDir = (socketPath as NSString).deletingLastPathComponent
        let runMount = container.at("volumeMounts")?.items.first { $0["mountPath"]?.string == socketDir }
        let runVolume = pod.at("spec.volumes")?.items.first { $0["name"] == runMount?["name"] }
        #expect(runVolume?["emptyDir"] != nil, "\(socketDir) is an emptyDir")

        // Service → the pods' http port; HPA → this Deployment.
        let labels = try #require(pod.at("metadata.labels"))
        #expect(service.at("spec.selector") == labels)
        #expect(deployment.at("spec.selector.matchLabels") == labels)
        let servicePort = try #require(service.at("spec.ports.0"))
        let targetPort = servicePort["targetPort"]?.string
        #expect(targetPort == "http" || Int(targetPort ?? "") == proxyPort)
        #expect(hpa.at("spec.scaleTargetRef.kind")?.string == "Deployment")
        #expect(hpa.at("spec.scaleTargetRef.name") == deployment.at("metadata.name"))
        let minReplicas = hpa.at("spec.minReplicas")?.int ?? 0, maxReplicas = hpa.at("spec.maxReplicas")?.int ?? 0
        #expect(minReplicas >= 1 && minReplicas <= maxReplicas)

        // kustomization lists every manifest.
        let kustomization = try Self.manifest("kustomization.yaml")
        #expect(Set(kustomization.at("resources")?.items.compactMap(\.string) ?? [])
                == ["configmap.yaml", "deployment.yaml", "service.yaml", "hpa.yaml"])
    }
}
