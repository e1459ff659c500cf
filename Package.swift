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

let package = Package(
    name: "drover",
    products: [
        .executable(name: "drover", targets: ["drover"]),
        .executable(name: "drover-demo-worker", targets: ["drover-demo-worker"]),
        .library(name: "Drover", targets: ["Drover"]),
    ],
    targets: [
        // Syscalls Glibc does not expose to Swift: epoll, signalfd, timerfd,
        // eventfd, pipe2, accept4, prctl, posix_spawn extensions, W* macros.
        .target(name: "CSystem"),
        .target(
            name: "Drover",
            dependencies: ["CSystem"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "drover",
            dependencies: ["Drover"],
            swiftSettings: [.swiftLanguageMode(.v6)],
            linkerSettings: staticRuntime
        ),
        .executableTarget(
            name: "drover-demo-worker",
            dependencies: ["CSystem"],
            swiftSettings: [.swiftLanguageMode(.v6)],
            linkerSettings: staticRuntime
        ),
        .testTarget(
            name: "DroverTests",
            dependencies: ["Drover", "drover", "drover-demo-worker"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
