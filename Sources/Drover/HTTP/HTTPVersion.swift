/// The two HTTP versions drover speaks on the wire. Anything else that is
/// still shaped like `HTTP/x.y` is answered with 505, not 400.
public enum HTTPVersion: Sendable, Hashable {
    case http10
    case http11

    /// The protocol string as it appears on a start line.
    public var text: String {
        switch self {
        case .http10: return "HTTP/1.0"
        case .http11: return "HTTP/1.1"
        }
    }
}
