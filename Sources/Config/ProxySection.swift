import Glibc
// [proxy:x]: drover's front proxy, SPEC §5's table. Every key is checked
// here so a typo fails `drover check` instead of a request at 3 a.m.

extension ConfigLoadContext {
    mutating func readProxy(_ section: IniSection, upstreams: Set<String>) -> ProxyConfig? {
        let name = String(section.name.dropFirst("proxy:".count))
        let sectionName = section.name
        let errorsBefore = diags.errors.count
        if let why = Self.nameProblem(name) {
            diags.error(section.file, section.line, sectionName, nil, "bad proxy name: \(why)")
        }
        var r = ConfigSectionReader(section, base: base)
        let listen = r.typed("listen", &diags, ConfigValues.listenAddress)
        if section["listen"] == nil {
            diags.error(section.file, section.line, sectionName, "listen", "[\(sectionName)] needs `listen =` (HOST:PORT, :PORT or unix:/path)")
        }
        var upstream: String?
        if let (v, e) = r.string("upstream", &diags) {
            let u = v.pyStripped
            if upstreams.contains(u) { upstream = u } else {
                diags.error(e.file, e.line, sectionName, "upstream", "no program or group named '\(u)'")
            }
        } else if section["upstream"] == nil {
            diags.error(section.file, section.line, sectionName, "upstream", "[\(sectionName)] needs `upstream =` (a program or group)")
        }
        if case .tcp(_, let port)? = listen, let e = section["listen"] {
            claimPorts(port..<(port + 1), owner: "[\(sectionName)] listen", entry: e, section: sectionName)
        }
        var p = ProxyConfig(name: name, listen: listen ?? .tcp(host: "0.0.0.0", port: 0), upstream: upstream ?? "")
        if let b = r.typed("balance", &diags, { v in
            BalancePolicy(rawValue: v.pyStripped.lowercased()).map { .success($0) }
                ?? .failure(ConfigValueError("'\(v)' is not a balance policy (least_inflight, round_robin, p2c)"))
        }) { p.balance = b }
        if let n = r.int("max_inflight", &diags, ConfigLimits.maxInflight) { p.maxInflight = n }
        if let n = r.int("queue_size", &diags, ConfigLimits.queueSize) { p.queueSize = n }
        if let d = r.duration("queue_timeout", &diags) { p.queueTimeout = d }
        if let d = r.duration("connect_timeout", &diags) { p.connectTimeout = d }
        if let d = r.duration("read_timeout", &diags) { p.readTimeout = d }
        if let d = r.duration("client_timeout", &diags) { p.clientTimeout = d }
        if let d = r.duration("keepalive_timeout", &diags) { p.keepaliveTimeout = d }
        if let n = r.int("retries", &diags, ConfigLimits.retries) { p.retries = n }
        if let b = r.typed("retry_non_idempotent", &diags, ConfigValues.boolean) { p.retryNonIdempotent = b }
        if let n = r.size("client_max_body_size", &diags, max: ConfigLimits.clientMaxBodySize) { p.clientMaxBodySize = n }
        if let n = r.size("max_header_size", &diags, max: ConfigLimits.maxHeaderSize) { p.maxHeaderSize = n }
        if let rl = r.typed("rate_limit", &diags, ConfigValues.rateLimit) { p.rateLimit = rl }
        if let (v, e) = r.string("access_log", &diags) {
            switch ConfigValues.accessLog(v) {
            case .success(let log):
                if let log, log.target != "stdout" {
                    _ = checkedLogPath(log.target, e, sectionName)
                }
                p.accessLog = log
            case .failure(let err):
                diags.error(e.file, e.line, sectionName, "access_log", err.message)
            }
        }
        r.reportUnused(unsupported: [:], &diags)
        return diags.errors.count == errorsBefore ? p : nil
    }
}
