// Used by scripts/fuzz only when this toolchain cannot link libFuzzer
// (-sanitize=fuzzer): random mutation of the seed corpus (the directory
// given as the second argument) against the same checks, for a given number
// of seconds. scripts/fuzz adds a watchdog.
import Glibc

@main
struct ConfigFuzzFallbackMain {
    static func main() {
        let seconds = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 60 : 60
        var seeds: [[UInt8]] = []
        if CommandLine.arguments.count > 2, let dir = opendir(CommandLine.arguments[2]) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name.hasPrefix(".") { continue }
                let path = CommandLine.arguments[2] + "/" + name
                let fd = open(path, O_RDONLY)
                guard fd >= 0 else { continue }
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(fd, &chunk, chunk.count)
                    if n <= 0 { break }
                    bytes += chunk[..<n]
                }
                close(fd)
                seeds.append(bytes)
            }
            closedir(dir)
        }
        if seeds.isEmpty { seeds = [Array("[program:a]\ncommand=/bin/a\nnumprocs=2\nprocess_name=%(process_num)s\n".utf8)] }
        let tokens = ["[program:x]\n", "[fcgi-program:f]\nsocket=tcp://127.0.0.1:7000\n", "[include]\nfiles=inc.conf\n",
                      "numprocs=", "99999999999TB", "1e300", "%(ENV_NOPE)s", "%(process_num)09999d", " ;", "\"", "'", "=",
                      "\n  continued", "stopwaitsecs=", "stdout_logfile_maxbytes=", "port=", "65535", "-1", "auto-3",
                      "command=", "\n;--include--\n", "[proxy:p]\nlisten=:8080\nupstream=x\n", "rate_limit=", "burst="]
            .map { Array($0.utf8) }
        let deadline = time(nil) + seconds
        var rng = SystemRandomNumberGenerator()
        var executed = 0
        while time(nil) < deadline {
            for _ in 0..<100 {
                var bytes = seeds.randomElement(using: &rng)!
                for _ in 0..<Int.random(in: 0...8, using: &rng) {
                    let i = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0 where !bytes.isEmpty: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                    case 1 where !bytes.isEmpty: bytes.remove(at: i)
                    case 2: bytes.insert(contentsOf: tokens.randomElement(using: &rng)!, at: i)
                    default: bytes.insert(UInt8.random(in: 9...126, using: &rng), at: i)
                    }
                }
                bytes.withUnsafeBytes { configFuzzCheck($0) }
                executed += 1
            }
        }
        print("stat::number_of_executed_units: \(executed)")
    }
}
