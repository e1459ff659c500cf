import Control
import HTTP
import HTTPServing

/// The admin listener (`admin_listen`, off by default): probes for
/// Kubernetes, Prometheus metrics, a status page for a person, and the
/// `/v1/` API, where anything that changes state needs the bearer token.
package final class AdminAPI {
    private let control: ControlAPI
    private let snapshot: (_ withMemory: Bool) -> StatusSnapshot
    private let token: [UInt8]?
    private let readiness: () -> Bool

    package init(control: ControlAPI, token: [UInt8]?, snapshot: @escaping (_ withMemory: Bool) -> StatusSnapshot,
         readiness: @escaping () -> Bool) {
        self.control = control
        self.token = token
        self.snapshot = snapshot
        self.readiness = readiness
    }

    package func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let head = request.head
        let readOnly = head.method == "GET" || head.method == "HEAD"
        switch head.path {
        case "/healthz":
            guard readOnly else { return ControlAPI.error(responder, 405, "use GET", "method_not_allowed", headers: [("Allow", "GET")]) }
            responder.respond(status: 200, text: "ok\n")
        case "/readyz":
            guard readOnly else { return ControlAPI.error(responder, 405, "use GET", "method_not_allowed", headers: [("Allow", "GET")]) }
            if readiness() {
                responder.respond(status: 200, text: "ready\n")
            } else {
                responder.respond(status: 503, text: "not ready: a proxied pool has no ready worker\n")
            }
        case "/metrics":
            guard readOnly else { return ControlAPI.error(responder, 405, "use GET", "method_not_allowed", headers: [("Allow", "GET")]) }
            responder.respond(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                              text: PrometheusMetrics.render(snapshot(true)))
        case "/", "/index.html":
            guard readOnly else { return ControlAPI.error(responder, 405, "use GET", "method_not_allowed", headers: [("Allow", "GET")]) }
            responder.respond(status: 200, contentType: "text/html; charset=utf-8", text: StatusPage.render(snapshot(true)))
        default:
            guard head.path.hasPrefix("/v1/") else {
                return ControlAPI.error(responder, 404, "no such path \(head.path)", "not_found")
            }
            // The listener already asked `refusal(for:)` on the head; asking
            // again costs nothing and keeps this handler safe on its own.
            if let refusal = refusal(for: head) {
                return responder.respond(status: refusal.status, contentType: refusal.contentType,
                                         headers: refusal.headers, body: refusal.body)
            }
            control.handle(request, responder)
        }
    }

    /// The token check, on a request's head alone: a change to `/v1/` without
    /// the right bearer token is answered 401 (403 when no token is
    /// configured) before its body is read. Nil lets the request through.
    package func refusal(for head: HTTPRequestHead) -> HTTPEarlyAnswer? {
        guard head.path.hasPrefix("/v1/"), head.method != "GET", head.method != "HEAD" else { return nil }
        guard let token else {
            return .error(403, "changes over the admin listener need admin_token_file in [supervisord]", code: "no_token_configured")
        }
        guard BearerToken.matches(authorizationHeader: head.headers["authorization"], token: token) else {
            return .error(401, "missing or wrong bearer token", code: "unauthorized",
                          headers: [("WWW-Authenticate", "Bearer realm=\"drover\"")])
        }
        return nil
    }
}
