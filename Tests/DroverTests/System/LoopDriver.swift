import CSystem
import Glibc
import Testing
@testable import Admin
@testable import CLI
@testable import Config
@testable import Control
@testable import HTTP
@testable import HTTPServing
@testable import JSON
@testable import Logs
@testable import Proxy
@testable import Runtime
@testable import Supervision
@testable import System

/// Runs a real `Reactor` on the test's own thread until a sequence of
/// conditions has held, each in turn (running its action when it does).
/// Conditions are checked on an optional polling tick and whenever another
/// thread calls `poke()` (an eventfd of the driver's own). No signals, no
/// waitpid, no signal masks: tests run in parallel in one process.
final class LoopDriver: @unchecked Sendable {
    let reactor: Reactor
    private struct Stage {
        var name: String
        var condition: () -> Bool
        var action: () -> Void
        var wait: Duration?
    }
    private var stages: [Stage] = []
    private var current = 0
    private var waitTimer: TimerID?
    private var waitDone = false
    private let tick: Duration?
    private let pokeFD: Int32
    /// Polling ticks so far (each is one timer wake-up of the loop).
    private(set) var ticks = 0
    private var finished = false

    /// `tick: nil` polls not at all: conditions are then checked only on
    /// `poke()` and when a `wait` ends, so the loop's timer use is the test's own.
    init(tick: Duration? = .milliseconds(2)) throws {
        reactor = try Reactor()
        self.tick = tick
        pokeFD = cs_eventfd()
        try reactor.register(FileDescriptor(rawValue: pokeFD), events: Reactor.readable) { [unowned self] _ in
            _ = cs_eventfd_drain(self.pokeFD)
            self.advance()
        }
    }

    deinit {
        reactor.unregister(FileDescriptor(rawValue: pokeFD))
        Glibc.close(pokeFD)
    }

    /// Once `condition` holds, runs `action` and goes on to the next stage.
    func when(_ name: String, _ condition: @escaping () -> Bool, then action: @escaping () -> Void = {}) {
        stages.append(Stage(name: name, condition: condition, action: action, wait: nil))
    }

    /// Lets the loop run for `duration` (from when the stage begins), then runs `action`.
    func wait(_ duration: Duration, _ name: String = "wait", then action: @escaping () -> Void = {}) {
        stages.append(Stage(name: name, condition: { true }, action: action, wait: duration))
    }

    /// Safe from any thread: has the loop check the current condition.
    func poke() { _ = cs_eventfd_signal(pokeFD) }

    /// Runs the loop until every stage is done or `timeout` passes; returns
    /// the name of the stage it stopped at, nil when all completed.
    func run(timeout: Duration = .seconds(10)) -> String? {
        reactor.schedule(after: timeout) { [unowned self] in
            self.reactor.stop()
        }
        if let tick { scheduleTick(tick) }
        reactor.schedule(after: .zero) { [unowned self] in self.advance() }
        reactor.run()
        finished = true
        return current < stages.count ? stages[current].name : nil
    }

    private func scheduleTick(_ tick: Duration) {
        reactor.schedule(after: tick) { [unowned self] in
            guard !self.finished else { return }
            self.ticks += 1
            self.advance()
            self.scheduleTick(tick)
        }
    }

    private func advance() {
        while current < stages.count {
            let stage = stages[current]
            if let wait = stage.wait, !waitDone {
                if waitTimer == nil {
                    waitTimer = reactor.schedule(after: wait) { [unowned self] in
                        self.waitDone = true
                        self.advance()
                    }
                }
                return
            }
            guard stage.condition() else { return }
            waitTimer = nil
            waitDone = false
            current += 1
            stage.action()
        }
        reactor.stop()
    }
}

/// A connected AF_UNIX stream pair, both ends non-blocking and close-on-exec.
func makeSocketPair() -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    let result = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
    precondition(result == 0, "socketpair: \(errno)")
    return (fds[0], fds[1])
}

/// Bytes 0, 1, 2, … 250, 0, 1, … (a prime period, so a lost or repeated
/// chunk anywhere shows up).
func patternBytes(_ count: Int, from start: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8((start + $0) % 251) }
}
