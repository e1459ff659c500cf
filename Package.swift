// swift-tools-version: 6.0
import PackageDescription

// Release builds are fully static executables (the Swift runtime and glibc
// linked in: `ldd` says "not a dynamic executable"), so `drover` is one file
// that runs as PID 1 in any container, a distroless or scratch image
// included. The daemon never needs glibc's dlopen'ed parts: no NSS (users
// come from /etc/passwd itself, see UserDatabase), no getaddrinfo (listen
// addresses are numeric or localhost), no iconv. The linker's warning about
// dlopen comes from the Swift runtime's optional prespecializations library,
// which a static binary never loads. Debug builds stay dynamic to keep
// `swift test` fast.
let staticRuntime: [LinkerSetting] = [
    .unsafeFlags(["-static-executable"], .when(platforms: [.linux], configuration: .release)),
]

let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

// The proxy's hot path (the loop, HTTP parsing, the proxy) in release
// builds: no run-time exclusivity checks. They cost a quarter of the
// instructions per proxied request (measured with callgrind: 44k -> 34k;
// each stored property of a class touched through a method is a
// swift_beginAccess/endAccess pair). Debug builds, which `swift test`
// runs, keep every check, so a violation still fails the tests.
let hotPath: [SwiftSetting] = swift6 + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

// One target per layer, each importing only the layers below it, so the
// compiler enforces the architecture (docs/architecture.md):
//   System, JSON, HTTP (pure)  →  HTTPServing, Config  →  Logs
//   →  Supervision, Proxy (neither sees the other)  →  Control  →  Admin
//   →  Runtime (the daemon's wiring)  →  CLI  →  drover
// Declarations shared across layers are `package`, never `public`: the
// package is the only client.
let package = Package(
    name: "drover",
    products: [
        .executable(name: "drover", targets: ["drover"]),
        .executable(name: "drover-demo-worker", targets: ["drover-demo-worker"]),
    ],
    targets: [
        // Syscalls Glibc does not expose to Swift: epoll, signalfd, timerfd,
        // eventfd, pipe2, accept4, prctl, posix_spawn extensions, W* macros.
        .target(name: "CSystem"),
        // Typed descriptors, the reactor, timers, clocks, spawning, signals.
        .target(name: "System", dependencies: ["CSystem"], swiftSettings: hotPath),
        // JSON values, parser and writer (the daemon carries no Foundation).
        .target(name: "JSON", swiftSettings: swift6),
        // HTTP/1.1 heads, bodies, parsers and writers: pure, no syscalls
        // (scripts/fuzz builds it alone).
        .target(name: "HTTP", swiftSettings: hotPath),
        // A generic HTTP/1.1 server on the reactor (control socket, admin).
        .target(name: "HTTPServing", dependencies: ["HTTP", "System", "JSON", "CSystem"], swiftSettings: swift6),
        // supervisor.conf: reading, expansion, validation, `drover check`.
        .target(name: "Config", dependencies: ["System", "CSystem"], swiftSettings: swift6),
        // Event log, worker output capture, rotating files, the console.
        .target(name: "Logs", dependencies: ["Config", "System", "CSystem"], swiftSettings: swift6),
        // Process lifecycle: spawn, reap, back off, probe, replace, reload.
        .target(name: "Supervision", dependencies: ["Config", "Logs", "System", "CSystem"], swiftSettings: swift6),
        // The control API and the status snapshot it and the admin serve.
        .target(name: "Control", dependencies: ["Supervision", "Proxy", "Config", "HTTP", "HTTPServing", "JSON", "Logs", "System"], swiftSettings: swift6),
        // The front proxy: clients, upstream connections, pool and queue.
        .target(name: "Proxy", dependencies: ["Config", "HTTP", "Logs", "System", "JSON", "CSystem"], swiftSettings: hotPath),
        // The admin listener: /healthz, /readyz, /metrics, the status page.
        .target(name: "Admin", dependencies: ["Control", "Proxy", "HTTP", "HTTPServing", "Supervision", "Config", "System", "JSON", "Logs", "CSystem"], swiftSettings: swift6),
        // The daemon: wires supervisor, proxies, control and admin on one reactor.
        .target(name: "Runtime", dependencies: ["Admin", "Proxy", "Control", "Supervision", "Config", "HTTP", "HTTPServing", "Logs", "System", "JSON", "CSystem"], swiftSettings: swift6),
        // Subcommands, the control client, help text.
        .target(name: "CLI", dependencies: ["Runtime", "Admin", "Proxy", "Control", "Supervision", "Config", "HTTP", "HTTPServing", "Logs", "System", "JSON", "CSystem"], swiftSettings: swift6),
        .executableTarget(
            name: "drover",
            dependencies: ["CLI"],
            swiftSettings: swift6,
            linkerSettings: staticRuntime
        ),
        .executableTarget(
            name: "drover-demo-worker",
            dependencies: ["CSystem"],
            swiftSettings: swift6,
            linkerSettings: staticRuntime
        ),
        .testTarget(
            name: "DroverTests",
            dependencies: ["CLI", "drover", "drover-demo-worker"],
            swiftSettings: swift6
        ),
    ]
)
