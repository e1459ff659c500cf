/// What `preload = true` asks of a program, and how `drover check` says it.
/// A preloaded worker is forked with its slot's port, so the pool needs
/// `port =`; an fcgi program's workers share drover's socket instead and
/// have nothing to fork to.
enum PreloadRule {
    static let checkNote = "preload: command runs one template, workers fork from it"

    static func refusal(isFcgi: Bool, port: Int?) -> String? {
        if isFcgi { return "an [fcgi-program:x] cannot preload: its workers share one socket, not a port each" }
        if port == nil { return "preload = true needs `port =`: each forked worker listens on its slot's port" }
        return nil
    }
}
