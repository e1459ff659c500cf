/// Header fields in arrival order, repeated names kept: the proxy forwards
/// them as received, and framing checks must see every Content-Length line.
/// Lookups compare names ASCII case-insensitively (RFC 9110 §5.1).
package struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    package typealias Field = (name: String, value: String)

    package private(set) var fields: [Field]

    package init() { fields = [] }

    package init(_ fields: [Field]) { self.fields = fields }

    /// `["Host": "a", "Accept": "*/*"]` keeps the written order.
    package init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    package var count: Int { fields.count }
    package var isEmpty: Bool { fields.isEmpty }

    package func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// The first value of `name`, or nil. Use `values(for:)` where a field
    /// may repeat and every line matters.
    package subscript(name: String) -> String? {
        for field in fields where HTTPSyntax.equalsIgnoringCase(field.name, name) { return field.value }
        return nil
    }

    /// Every value of `name`, in order.
    package func values(for name: String) -> [String] {
        fields.compactMap { HTTPSyntax.equalsIgnoringCase($0.name, name) ? $0.value : nil }
    }

    package func contains(name: String) -> Bool {
        fields.contains { HTTPSyntax.equalsIgnoringCase($0.name, name) }
    }

    /// The comma-list elements of every `name` line, trimmed, empties dropped
    /// (`Connection: keep-alive, X-Secret` gives both tokens).
    package func listElements(for name: String) -> [String] {
        values(for: name).flatMap(HTTPSyntax.listElements)
    }

    /// Whether the comma list in `name` contains `token`, case-insensitively
    /// (`contains(token: "close", in: "connection")`).
    package func contains(token: String, in name: String) -> Bool {
        for value in values(for: name) {
            for element in HTTPSyntax.listElements(value) where HTTPSyntax.equalsIgnoringCase(element, token) {
                return true
            }
        }
        return false
    }

    /// Appends a field (no validation here: the writers validate on output).
    package mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces every `name` line with one, in the place of the first.
    package mutating func replaceOrAdd(name: String, value: String) {
        if let first = fields.firstIndex(where: { HTTPSyntax.equalsIgnoringCase($0.name, name) }) {
            fields[first] = (name: name, value: value)
            var index = fields.index(after: first)
            while index < fields.endIndex {
                if HTTPSyntax.equalsIgnoringCase(fields[index].name, name) { fields.remove(at: index) } else { index += 1 }
            }
        } else {
            add(name: name, value: value)
        }
    }

    /// Removes every `name` line.
    package mutating func remove(name: String) {
        fields.removeAll { HTTPSyntax.equalsIgnoringCase($0.name, name) }
    }

    package static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}
