import Config
import Runtime

/// `drover run --dry-run`: the start-up plan of a loaded config (what the
/// daemon derives before it binds, writes or spawns anything), printed
/// instead of carried out. Exit 0 when run would start, 1 when it would
/// refuse, each reason on a line of its own.
enum DryRun {
    static func report(_ settings: Daemon.Settings, environment: [String: String]) -> Int32 {
        let config = settings.config
        for warning in config.warnings { DroverCommand.writeErr("warning: \(warning)\n") }
        let plan: StartupPlan
        do throws(StartupPlan.Refusal) {
            plan = try StartupPlan.make(config: config, environment: environment, tiniMode: settings.tiniMode,
                                        users: UserDatabase(), files: .readOnly)
        } catch {
            for reason in error.reasons { DroverCommand.writeErr("error: \(reason)\n") }
            DroverCommand.writeErr("drover run would refuse to start (\(error.reasons.count) problem\(error.reasons.count == 1 ? "" : "s")); nothing was bound, written or spawned\n")
            return 1
        }
        for warning in plan.warnings { DroverCommand.writeErr("warning: \(warning)\n") }
        var lines = ["drover run would start \(plan.processCount) process\(plan.processCount == 1 ? "" : "es") "
                     + "(\(plan.autostartCount) at once)\(config.path.map { " from \($0)" } ?? "")"]
        if let control = plan.control {
            lines.append("  control socket \(control.path) (mode \(String(control.mode, radix: 8))"
                         + "\(control.owner.map { ", owner \($0)" } ?? "")\(control.explicit ? "" : ", best effort"))")
        }
        if let admin = plan.admin {
            lines.append("  admin listener \(admin)\(plan.adminToken == nil ? " (read-only: no admin_token_file)" : " (token read)")")
        }
        for proxy in plan.proxies {
            lines.append("  [proxy:\(proxy.name)] listening on \(proxy.listen) for \(proxy.upstream)")
        }
        lines.append("  descriptor limit asked for: \(plan.descriptorLimit)")
        let slots = slotTables(config)
        if !slots.isEmpty { lines.append(String(slots.dropLast())) }
        lines.append("OK: nothing was bound, written or spawned")
        print(lines.joined(separator: "\n"))
        return 0
    }
}
