import Drover
import Foundation

// Minimal dispatch until the full CLI lands: `drover check [-c FILE]`.
let args = Array(CommandLine.arguments.dropFirst())
if args.first == "check" {
    var path = "supervisor.conf"
    var i = 1
    while i < args.count {
        if (args[i] == "-c" || args[i] == "--config"), i + 1 < args.count { path = args[i + 1]; i += 2; continue }
        FileHandle.standardError.write("usage: drover check [-c FILE]\n".data(using: .utf8)!)
        exit(2)
    }
    exit(runCheck(path: path, environment: ProcessInfo.processInfo.environment))
}
print("drover")
