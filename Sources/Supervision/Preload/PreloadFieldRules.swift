/// The field rules of docs/preload-protocol.md, checked the same way when
/// drover encodes a frame and when it decodes one from a template.
enum PreloadFieldRules {
    static func checkPid(_ pid: Int32, kind: PreloadWire.Kind) throws(PreloadProtocolError) {
        if pid <= 0 { throw .invalidField(kind: kind.name, field: "pid", reason: "is \(pid), not a process id") }
    }

    static func checkPort(_ port: UInt16) throws(PreloadProtocolError) {
        if port == 0 { throw .invalidField(kind: "fork", field: "port", reason: "is 0") }
    }

    static func checkStreams(_ streams: UInt8) throws(PreloadProtocolError) {
        if streams > PreloadWire.maxStreams {
            throw .invalidField(kind: "fork", field: "streams", reason: "is \(streams), more than \(PreloadWire.maxStreams)")
        }
    }

    static func checkCpuCount(_ count: Int) throws(PreloadProtocolError) {
        if count > PreloadWire.maxCpus {
            throw .invalidField(kind: "fork", field: "cpus", reason: "has \(count) entries, more than \(PreloadWire.maxCpus)")
        }
    }

    static func checkEnvironment(_ entries: [PreloadEnvironmentEntry]) throws(PreloadProtocolError) {
        if entries.count > PreloadWire.maxEnvironmentEntries {
            throw .invalidField(kind: "fork", field: "environment",
                                reason: "has \(entries.count) entries, more than \(PreloadWire.maxEnvironmentEntries)")
        }
        for entry in entries {
            try checkKey(Array(entry.key.utf8))
            try checkNoNul(Array(entry.value.utf8), kind: .fork, field: "value of \(entry.key)")
        }
    }

    static func checkKey(_ key: [UInt8]) throws(PreloadProtocolError) {
        if key.isEmpty { throw .invalidField(kind: "fork", field: "environment key", reason: "is empty") }
        if key.count > PreloadWire.maxKeyBytes {
            throw .invalidField(kind: "fork", field: "environment key",
                                reason: "is \(key.count) bytes, more than \(PreloadWire.maxKeyBytes)")
        }
        if key.contains(UInt8(ascii: "=")) {
            throw .invalidField(kind: "fork", field: "environment key \(String(decoding: key, as: UTF8.self))",
                                reason: "contains '='")
        }
        try checkNoNul(key, kind: .fork, field: "environment key")
    }

    /// Free text (hello's runtime, error's message): bounded, no NUL.
    static func checkText(_ text: [UInt8], kind: PreloadWire.Kind, field: String) throws(PreloadProtocolError) {
        if text.count > PreloadWire.maxTextBytes {
            throw .invalidField(kind: kind.name, field: field,
                                reason: "is \(text.count) bytes, more than \(PreloadWire.maxTextBytes)")
        }
        try checkNoNul(text, kind: kind, field: field)
    }

    static func checkNoNul(_ bytes: [UInt8], kind: PreloadWire.Kind, field: String) throws(PreloadProtocolError) {
        if bytes.contains(0) { throw .invalidField(kind: kind.name, field: field, reason: "contains a NUL byte") }
    }
}
