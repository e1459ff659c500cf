/// The program of `drover run [--workers N|auto] [--port P] [--health PATH] -- CMD ARGS`:
/// a pool named `app` whose argv may use `%(port)s`, `%(process_num)s`,
/// `%(process_num)02d` and `%(program_name)s`, as in a config file.
public enum ConfigLessProgram {
    public static func make(argv: [String], workers: Int, firstPort: Int?, healthPath: String?) -> ProgramConfig {
        let tini = workers == 1
        let template = ProcessTemplate { (number: Int) throws(ConfigDiagnostic) -> ProcessSpec in
            let name = tini ? "app" : "app_" + pad(number)
            let port = firstPort.map { $0 + number }
            var environment = [
                "DROVER_PROCESS_NAME": name, "DROVER_PROCESS_NUM": String(number),
                "SUPERVISOR_PROCESS_NAME": name, "SUPERVISOR_GROUP_NAME": "app", "SUPERVISOR_ENABLED": "1",
            ]
            if let port { environment["PORT"] = String(port) }
            let expanded = argv.map { expand($0, number: number, port: port) }
            var spec = ProcessSpec(programName: "app", groupName: "app", name: name, number: number, index: number,
                                   argv: expanded, environment: environment, port: port)
            spec.health = healthPath.map { HealthCheck(path: $0) }
            if tini {
                spec.autorestart = .never
                spec.startsecs = 0
                spec.startretries = 1
            } else {
                spec.startretries = 0
            }
            return spec
        }
        var processes: [ProcessSpec] = []
        for number in 0..<workers {
            if let spec = try? template.make(number) { processes.append(spec) }
        }
        return ProgramConfig(name: "app", groupName: "app", priority: 999, numprocs: workers, numprocsStart: 0,
                             port: firstPort, processes: processes, template: template)
    }

    static func expand(_ text: String, number: Int, port: Int?) -> String {
        guard text.contains("%") else { return text }
        var result = text
        result = result.replacingAll("%(process_num)02d", with: pad(number))
        result = result.replacingAll("%(process_num)s", with: String(number))
        result = result.replacingAll("%(process_num)d", with: String(number))
        result = result.replacingAll("%(program_name)s", with: "app")
        result = result.replacingAll("%(group_name)s", with: "app")
        if let port {
            result = result.replacingAll("%(port)s", with: String(port))
            result = result.replacingAll("%(port)d", with: String(port))
        }
        return result.replacingAll("%%", with: "%")
    }

    static func pad(_ number: Int) -> String {
        number < 10 ? "0\(number)" : String(number)
    }
}

extension String {
    /// Literal, non-overlapping replacement without Foundation.
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var remainder = self[...]
        while let range = remainder.firstRange(of: target) {
            result += remainder[..<range.lowerBound]
            result += replacement
            remainder = remainder[range.upperBound...]
        }
        return result + remainder
    }
}
