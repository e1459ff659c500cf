import CSystem
import Glibc

/// The one event loop: epoll for descriptors, one timerfd armed at the
/// earliest deadline, a signalfd for signals, an eventfd for wake-ups from
/// other threads. All supervisor and proxy state is touched only from the
/// callbacks it runs, so none of it needs a lock. When nothing is due it
/// sleeps in epoll_wait with no timeout: zero wake-ups while idle.
package final class Reactor {
    package typealias IOHandler = (_ events: UInt32) -> Void

    package static let readable = UInt32(CS_EPOLLIN)
    package static let writable = UInt32(CS_EPOLLOUT)
    package static let peerHalfClosed = UInt32(CS_EPOLLRDHUP)
    package static let hangup = UInt32(CS_EPOLLHUP) | UInt32(CS_EPOLLERR) | UInt32(CS_EPOLLRDHUP)

    private struct Registration {
        var generation: UInt32
        var handler: IOHandler
    }

    private let epoll: FileDescriptor
    private let timerFD: FileDescriptor
    private let wakeFD: FileDescriptor
    /// Indexed by descriptor number, as HAProxy's fdtab: a lookup per event
    /// is an array load, not a hash.
    private var registrations: [Registration?] = []
    private var nextGeneration: UInt32 = 1

    private var timers = TimerQueue()
    /// What the timerfd is set to (0: disarmed). Re-armed lazily: only when a
    /// timer becomes earlier than it, or when it fires; moving a connection's
    /// deadline later costs no syscall.
    private var armedDeadline: UInt64 = 0
    package private(set) var timerfdSettings: UInt64 = 0

    /// One receive buffer for every connection on the loop: a read lands here
    /// and the owner copies only what it must keep.
    let receiveBuffer: UnsafeMutableRawBufferPointer
    /// Output buffers the loop's connections share between writes.
    package let outputBuffers = OutputBufferPool()

    private var stopped = false
    /// Wake-ups of epoll_wait, for the idle-CPU measurement.
    package private(set) var wakeups: UInt64 = 0
    /// A test clock (as swift-nio's EmbeddedEventLoop): time stands still
    /// until `advanceTime` moves it, and timers fire from there, never from
    /// the timerfd. nil: the monotonic clock.
    private var manualNanoseconds: UInt64?

    /// The monotonic clock read when the event being handled came in (0
    /// between events): one clock read per event, where a proxied request
    /// asked for the time a dozen times (each deadline it set, its
    /// timings, the Date line).
    private var eventNanoseconds: UInt64 = 0

    /// The loop's clock: every deadline is measured on it. While an event
    /// is handled, the instant it came in (a handler's deadlines start no
    /// later than it began); otherwise the clock itself.
    package var now: Instant {
        if let manualNanoseconds { return Instant(nanoseconds: manualNanoseconds) }
        return eventNanoseconds != 0 ? Instant(nanoseconds: eventNanoseconds) : .now
    }

    /// A reactor whose clock only moves when a test says so.
    package static func withTestClock() throws(SystemError) -> Reactor {
        let reactor = try Reactor()
        reactor.manualNanoseconds = 1_000_000_000
        return reactor
    }

    package init() throws(SystemError) {
        let ep = cs_epoll_create()
        if ep < 0 { throw SystemError("epoll_create1") }
        epoll = FileDescriptor(rawValue: ep)
        let tfd = cs_timerfd_create()
        if tfd < 0 { throw SystemError("timerfd_create") }
        timerFD = FileDescriptor(rawValue: tfd)
        let efd = cs_eventfd()
        if efd < 0 { throw SystemError("eventfd") }
        wakeFD = FileDescriptor(rawValue: efd)
        receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        try register(timerFD, events: Reactor.readable) { [unowned self] _ in
            _ = cs_timerfd_drain(self.timerFD.rawValue)
            self.armedDeadline = 0
            self.fireDueTimers()
        }
        try register(wakeFD, events: Reactor.readable) { [unowned self] _ in
            _ = cs_eventfd_drain(self.wakeFD.rawValue)
        }
    }

    deinit {
        receiveBuffer.deallocate()
        wakeFD.close()
        timerFD.close()
        epoll.close()
    }

    // MARK: Descriptors

    package func register(_ fd: FileDescriptor, events: UInt32, handler: @escaping IOHandler) throws(SystemError) {
        let generation = nextGeneration
        nextGeneration &+= 1
        if cs_epoll_add(epoll.rawValue, fd.rawValue, events, Self.token(fd, generation)) != 0 {
            throw SystemError("epoll_ctl(ADD)", context: "fd \(fd.rawValue)")
        }
        let index = Int(fd.rawValue)
        if index >= registrations.count {
            registrations.append(contentsOf: repeatElement(nil, count: max(index + 1, registrations.count * 2) - registrations.count))
        }
        registrations[index] = Registration(generation: generation, handler: handler)
    }

    package func modify(_ fd: FileDescriptor, events: UInt32) throws(SystemError) {
        let index = Int(fd.rawValue)
        guard index < registrations.count, let registration = registrations[index] else { return }
        if cs_epoll_mod(epoll.rawValue, fd.rawValue, events, Self.token(fd, registration.generation)) != 0 {
            throw SystemError("epoll_ctl(MOD)", context: "fd \(fd.rawValue)")
        }
    }

    /// Stops watching `fd` (call before closing it).
    package func unregister(_ fd: FileDescriptor) {
        let index = Int(fd.rawValue)
        guard index >= 0, index < registrations.count, registrations[index] != nil else { return }
        registrations[index] = nil
        _ = cs_epoll_del(epoll.rawValue, fd.rawValue)
    }

    package var registeredCount: Int { registrations.count { $0 != nil } }

    /// A generation in the token lets a stale event for a closed and reused
    /// descriptor number be recognised and dropped.
    private static func token(_ fd: FileDescriptor, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd.rawValue))
    }

    // MARK: Timers

    @discardableResult
    package func schedule(after duration: Duration, _ action: @escaping () -> Void) -> TimerID {
        schedule(at: now + duration, action)
    }

    @discardableResult
    package func schedule(at deadline: Instant, _ action: @escaping () -> Void) -> TimerID {
        let id = timers.schedule(at: deadline.nanoseconds, action)
        armIfNeeded()
        return id
    }

    /// A timer whose slot and action its owner keeps for its whole life,
    /// not armed yet: `reschedule` arms it, `disarm` stops it, and `cancel`
    /// frees it (the owner must, when it goes away).
    package func holdTimer(_ action: @escaping () -> Void) -> TimerID {
        timers.hold(action)
    }

    /// Moves a pending timer, or arms a held one; false when it already
    /// fired (one-shot) or was cancelled.
    @discardableResult
    package func reschedule(_ id: TimerID, at deadline: Instant) -> Bool {
        guard timers.reschedule(id, at: deadline.nanoseconds) else { return false }
        armIfNeeded()
        return true
    }

    package func isScheduled(_ id: TimerID?) -> Bool {
        guard let id else { return false }
        return timers.isScheduled(id)
    }

    package func cancel(_ id: TimerID?) {
        guard let id else { return }
        timers.cancel(id)
        // The timerfd stays armed: one early wake-up costs less than a
        // timerfd_settime per cancel.
    }

    /// Stops a held timer, keeping it for the next `reschedule` (a
    /// one-shot timer is cancelled). No syscall, as for `cancel`.
    package func disarm(_ id: TimerID?) {
        guard let id else { return }
        timers.disarm(id)
    }

    /// Live timers, for the memory and leak checks.
    package var pendingTimers: Int { timers.count }
    /// Held timers, armed or not (one per connection that ever had a deadline).
    package var heldTimers: Int { timers.heldCount }

    private func fireDueTimers() {
        let now = self.now.nanoseconds
        while let action = timers.popDue(now: now) {
            action()
            if stopped { return }
        }
        armIfNeeded()
    }

    private func armIfNeeded() {
        guard manualNanoseconds == nil, let next = timers.nextDeadline else { return }
        if armedDeadline == 0 || next < armedDeadline {
            // 0 would disarm; an absolute time of 1 ns is in the past and fires at once.
            armedDeadline = max(next, 1)
            timerfdSettings &+= 1
            _ = cs_timerfd_set_abs(timerFD.rawValue, armedDeadline)
        }
    }

    // MARK: Test clock and stepping

    /// Moves the test clock and runs every timer that is then due (in
    /// deadline order, each at its own instant).
    package func advanceTime(by duration: Duration) {
        precondition(manualNanoseconds != nil, "advanceTime needs a reactor made withTestClock()")
        let target = manualNanoseconds! &+ duration.clampedNanoseconds
        while let next = timers.nextDeadline, next <= target {
            manualNanoseconds = max(manualNanoseconds!, next)
            fireDueTimers()
        }
        manualNanoseconds = target
    }

    /// Handles every event that is ready now, without waiting; returns how
    /// many were handled. Tests step the loop with this.
    @discardableResult
    package func runReady() -> Int {
        var handled = 0
        var events = [cs_epoll_event](repeating: cs_epoll_event(), count: 64)
        while true {
            let count = events.withUnsafeMutableBufferPointer {
                cs_epoll_wait(epoll.rawValue, $0.baseAddress, Int32($0.count), 0)
            }
            if count <= 0 { return handled }
            dispatch(events, count: Int(count))
            handled += Int(count)
        }
    }

    private func dispatch(_ events: [cs_epoll_event], count: Int) {
        for index in 0..<count {
            let event = events[index]
            let fd = Int(Int32(bitPattern: UInt32(truncatingIfNeeded: event.data)))
            let generation = UInt32(truncatingIfNeeded: event.data >> 32)
            guard fd < registrations.count, let registration = registrations[fd],
                  registration.generation == generation else { continue }
            eventNanoseconds = cs_monotonic_ns()
            registration.handler(event.events)
            if stopped { break }
        }
        eventNanoseconds = 0
    }

    // MARK: Loop

    /// Safe from any thread: makes epoll_wait return.
    package func wake() {
        _ = cs_eventfd_signal(wakeFD.rawValue)
    }

    package func stop() {
        stopped = true
        wake()
    }

    package func run() {
        var events = [cs_epoll_event](repeating: cs_epoll_event(), count: 256)
        while !stopped {
            let count = events.withUnsafeMutableBufferPointer {
                cs_epoll_wait(epoll.rawValue, $0.baseAddress, Int32($0.count), -1)
            }
            wakeups &+= 1
            if count < 0 {
                if cs_errno() == EINTR { continue }
                fatalError("epoll_wait: \(SystemError("epoll_wait"))")
            }
            dispatch(events, count: Int(count))
        }
    }
}
