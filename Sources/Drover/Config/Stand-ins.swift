import CSystem
// TEMPORARY until the config branch merges.
public enum ConfigLoader {
    public static func load(path: String, environment: [String: String], isRoot: Bool) throws(ConfigErrors) -> DroverConfig {
        throw ConfigErrors(errors: [ConfigDiagnostic(file: path, line: 0, message: "config loading not built yet")])
    }
}
public enum CPUBudget { public static func usableCPUs() -> Int { max(1, Int(cs_cpu_count_affinity())) } }
public func runCheck(path: String, environment: [String: String]) -> Int32 { 1 }
