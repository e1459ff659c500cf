/// What `preload = true` asks of a program, and how `drover check` says it.
/// A preloaded worker is forked with its slot's port, so the pool needs
/// `port =`; an fcgi program's workers share drover's socket instead and
/// have nothing to fork to.
enum PreloadRule {
    static let checkNote = "preload: command runs one template, workers fork from it"

    /// Until the supervisor starts templates (issue 17, step 3), say so
    /// rather than let a preload template die for want of its channel.
    static let notStartedYet = "accepted, but this drover does not start preload templates yet: "
        + "each worker runs `command` itself, and drover_preload exits for want of DROVER_PRELOAD_FD"

    static func refusal(isFcgi: Bool, port: Int?) -> String? {
        if isFcgi { return "an [fcgi-program:x] cannot preload: its workers share one socket, not a port each" }
        if port == nil { return "preload = true needs `port =`: each forked worker listens on its slot's port" }
        return nil
    }
}
