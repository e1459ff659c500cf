// swift-tools-version: 6.0
import PackageDescription

// Release builds link the Swift runtime statically so `drover` runs as PID 1
// in a bare container; debug builds stay dynamic to keep `swift test` fast.
let staticRuntime: [LinkerSetting] = [
    .unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release)),
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
