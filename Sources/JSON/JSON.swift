/// A JSON document as the control API sends and receives it. Hand-written
/// because the daemon carries no Foundation (JSONSerialization and Codable's
/// JSON coders would pull megabytes of libFoundation into its RSS).
///
/// Objects keep their members in order so responses read the way the code
/// writes them; lookups are linear, which is right for the small objects the
/// control API exchanges.
package enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
}

extension JSONValue {
    /// The body of every control/admin error response (SPEC §6):
    /// `{"error": "...", "code": "..."}`.
    package static func error(_ message: String, code: String) -> JSONValue {
        .object([("error", .string(message)), ("code", .string(code))])
    }

    /// `.number`, or `.null` when absent: optional fields are written as null
    /// rather than left out, so clients see every key every time.
    package static func number<T: BinaryInteger>(_ value: T?) -> JSONValue {
        guard let value else { return .null }
        return .number(Double(value))
    }

    package static func number(_ value: Double?) -> JSONValue {
        guard let value else { return .null }
        return .number(value)
    }

    package static func string(_ value: String?) -> JSONValue {
        guard let value else { return .null }
        return .string(value)
    }
}

// MARK: - Accessors

extension JSONValue {
    /// The first member named `key` of an object; nil for a missing key or a non-object.
    package subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.0 == key })?.1
    }

    /// The element at `index` of an array; nil when out of range or not an array.
    package subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    package var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    package var doubleValue: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    /// The number when it is a whole number that fits an Int (1.5 and 1e300 are not).
    package var intValue: Int? {
        guard case .number(let value) = self, value.rounded(.towardZero) == value,
              value >= -9_223_372_036_854_775_808.0, value < 9_223_372_036_854_775_808.0 else { return nil }
        return Int(value)
    }

    package var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    package var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    package var objectValue: [(String, JSONValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    package var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

// MARK: - Equality

/// Objects compare member by member in order: the same members in another
/// order are a different document here (the serializer would write it differently).
extension JSONValue: Equatable {
    package static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.number(x), .number(y)): x == y
        case let (.string(x), .string(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }
}

// MARK: - Literals (handlers and tests build documents inline)

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral {
    package init(nilLiteral: ()) { self = .null }
    package init(booleanLiteral value: Bool) { self = .bool(value) }
    package init(integerLiteral value: Int) { self = .number(Double(value)) }
    package init(floatLiteral value: Double) { self = .number(value) }
    package init(stringLiteral value: String) { self = .string(value) }
    package init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Keeps the literal's order (a dictionary literal is ordered key-value pairs).
    package init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }
}
