/// One message of the preload protocol (docs/preload-protocol.md), in either
/// direction between drover and a template process.
package enum PreloadMessage: Equatable, Sendable {
    /// The template has loaded and is ready to fork: its pid and a line about its runtime.
    case hello(pid: Int32, runtime: String)
    /// drover asks for a worker in `slot`, listening on `port`, pinned to
    /// `cpus` (empty: the template's affinity), writing its output to the
    /// `streams` descriptors sent with the frame (0: the template's own,
    /// 1: one pipe for stdout and stderr, 2: stdout's then stderr's), with
    /// these environment entries on top of the template's own.
    case fork(slot: UInt32, port: UInt16, cpus: [UInt16] = [], streams: UInt8 = 0,
              environment: [PreloadEnvironmentEntry])
    /// The template forked the worker for `slot`.
    case forked(slot: UInt32, pid: Int32)
    /// A forked worker ended; `waitStatus` is the raw status from waitpid(2).
    case exited(pid: Int32, waitStatus: Int32)
    /// The template could not do something; `slot` is nil when it is not about one slot.
    case error(slot: UInt32?, message: String)
}

/// One `KEY=VALUE` entry a `fork` sets in the worker. Kept as pairs, in order,
/// because the wire carries them that way and later entries win.
package struct PreloadEnvironmentEntry: Equatable, Sendable {
    package var key: String
    package var value: String

    package init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// The wire's numbers and limits, shared by encoder and decoder.
package enum PreloadWire {
    /// Version 2 added the fork's CPU list and output descriptors (docs/preload-protocol.md).
    package static let version: UInt8 = 2
    /// The largest payload (version, kind and body) a frame may carry.
    package static let maxPayload = 65_536
    package static let maxEnvironmentEntries = 1024
    package static let maxCpus = 1024
    /// A fork passes at most stdout's and stderr's descriptors.
    package static let maxStreams: UInt8 = 2
    package static let maxKeyBytes = 255
    package static let maxTextBytes = 4096
    /// `error`'s slot value meaning "not about a slot".
    package static let noSlot: UInt32 = 0xFFFF_FFFF

    package enum Kind: UInt8, Sendable {
        case hello = 1, fork = 2, forked = 3, exited = 4, error = 5

        package var name: String {
            switch self {
            case .hello: "hello"
            case .fork: "fork"
            case .forked: "forked"
            case .exited: "exited"
            case .error: "error"
            }
        }
    }
}

extension PreloadMessage {
    package var kind: PreloadWire.Kind {
        switch self {
        case .hello: .hello
        case .fork: .fork
        case .forked: .forked
        case .exited: .exited
        case .error: .error
        }
    }
}
