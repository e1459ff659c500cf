import CSystem
import Glibc

/// Identifies a scheduled timer so it can be cancelled.
public struct TimerID: Hashable, Sendable {
    fileprivate let value: UInt64
}

/// The one event loop: epoll for descriptors, one timerfd armed at the
/// earliest deadline, a signalfd for signals, an eventfd for wake-ups from
/// other threads. All supervisor and proxy state is touched only from the
/// callbacks it runs, so none of it needs a lock. When nothing is due it
/// sleeps in epoll_wait with no timeout: zero wake-ups while idle.
public final class Reactor {
    public typealias IOHandler = (_ events: UInt32) -> Void

    public static let readable = UInt32(CS_EPOLLIN)
    public static let writable = UInt32(CS_EPOLLOUT)
    public static let hangup = UInt32(CS_EPOLLHUP) | UInt32(CS_EPOLLERR) | UInt32(CS_EPOLLRDHUP)

    private struct Registration {
        var generation: UInt32
        var handler: IOHandler
    }

    private let epoll: FileDescriptor
    private let timerFD: FileDescriptor
    private let wakeFD: FileDescriptor
    private var registrations: [Int32: Registration] = [:]
    private var nextGeneration: UInt32 = 1

    private var timerHeap: [(deadline: UInt64, id: UInt64)] = []
    private var timerActions: [UInt64: () -> Void] = [:]
    private var nextTimerID: UInt64 = 1
    private var armedDeadline: UInt64 = 0

    private var stopped = false
    /// Wake-ups of epoll_wait, for the idle-CPU measurement.
    public private(set) var wakeups: UInt64 = 0

    public init() throws(SystemError) {
        let ep = cs_epoll_create()
        if ep < 0 { throw SystemError("epoll_create1") }
        epoll = FileDescriptor(rawValue: ep)
        let tfd = cs_timerfd_create()
        if tfd < 0 { throw SystemError("timerfd_create") }
        timerFD = FileDescriptor(rawValue: tfd)
        let efd = cs_eventfd()
        if efd < 0 { throw SystemError("eventfd") }
        wakeFD = FileDescriptor(rawValue: efd)
        try register(timerFD, events: Reactor.readable) { [unowned self] _ in
            _ = cs_timerfd_drain(self.timerFD.rawValue)
            self.armedDeadline = 0
            self.fireDueTimers()
        }
        try register(wakeFD, events: Reactor.readable) { [unowned self] _ in
            _ = cs_eventfd_drain(self.wakeFD.rawValue)
        }
    }

    // MARK: Descriptors

    public func register(_ fd: FileDescriptor, events: UInt32, handler: @escaping IOHandler) throws(SystemError) {
        let generation = nextGeneration
        nextGeneration &+= 1
        if cs_epoll_add(epoll.rawValue, fd.rawValue, events, Self.token(fd, generation)) != 0 {
            throw SystemError("epoll_ctl(ADD)", context: "fd \(fd.rawValue)")
        }
        registrations[fd.rawValue] = Registration(generation: generation, handler: handler)
    }

    public func modify(_ fd: FileDescriptor, events: UInt32) throws(SystemError) {
        guard let registration = registrations[fd.rawValue] else { return }
        if cs_epoll_mod(epoll.rawValue, fd.rawValue, events, Self.token(fd, registration.generation)) != 0 {
            throw SystemError("epoll_ctl(MOD)", context: "fd \(fd.rawValue)")
        }
    }

    /// Stops watching `fd` (call before closing it).
    public func unregister(_ fd: FileDescriptor) {
        guard registrations.removeValue(forKey: fd.rawValue) != nil else { return }
        _ = cs_epoll_del(epoll.rawValue, fd.rawValue)
    }

    /// A generation in the token lets a stale event for a closed and reused
    /// descriptor number be recognised and dropped.
    private static func token(_ fd: FileDescriptor, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd.rawValue))
    }

    // MARK: Timers

    @discardableResult
    public func schedule(after seconds: Double, _ action: @escaping () -> Void) -> TimerID {
        schedule(at: Instant.now.adding(seconds: seconds), action)
    }

    @discardableResult
    public func schedule(at deadline: Instant, _ action: @escaping () -> Void) -> TimerID {
        let id = nextTimerID
        nextTimerID &+= 1
        timerActions[id] = action
        pushHeap((deadline.nanoseconds, id))
        armIfNeeded()
        return TimerID(value: id)
    }

    public func cancel(_ id: TimerID?) {
        guard let id else { return }
        timerActions.removeValue(forKey: id.value)
        // The heap entry stays until it surfaces; dropping cancelled heads
        // keeps the timerfd from waking us for nothing.
        while let head = timerHeap.first, timerActions[head.id] == nil { popHeap() }
        if timerHeap.isEmpty && armedDeadline != 0 {
            _ = cs_timerfd_set_abs(timerFD.rawValue, 0)
            armedDeadline = 0
        }
    }

    private func fireDueTimers() {
        let now = cs_monotonic_ns()
        while let head = timerHeap.first, head.deadline <= now {
            popHeap()
            if let action = timerActions.removeValue(forKey: head.id) { action() }
        }
        while let head = timerHeap.first, timerActions[head.id] == nil { popHeap() }
        armIfNeeded()
    }

    private func armIfNeeded() {
        guard let head = timerHeap.first else { return }
        if armedDeadline == 0 || head.deadline < armedDeadline {
            // 0 would disarm; an absolute time of 1 ns is in the past and fires at once.
            armedDeadline = max(head.deadline, 1)
            _ = cs_timerfd_set_abs(timerFD.rawValue, armedDeadline)
        }
    }

    private func pushHeap(_ entry: (deadline: UInt64, id: UInt64)) {
        timerHeap.append(entry)
        var child = timerHeap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if Self.earlier(timerHeap[child], timerHeap[parent]) {
                timerHeap.swapAt(child, parent)
                child = parent
            } else { break }
        }
    }

    private func popHeap() {
        let last = timerHeap.removeLast()
        guard !timerHeap.isEmpty else { return }
        timerHeap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < timerHeap.count && Self.earlier(timerHeap[left], timerHeap[smallest]) { smallest = left }
            if right < timerHeap.count && Self.earlier(timerHeap[right], timerHeap[smallest]) { smallest = right }
            if smallest == parent { return }
            timerHeap.swapAt(parent, smallest)
            parent = smallest
        }
    }

    private static func earlier(_ a: (deadline: UInt64, id: UInt64), _ b: (deadline: UInt64, id: UInt64)) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.id < b.id
    }

    // MARK: Loop

    /// Safe from any thread: makes epoll_wait return.
    public func wake() {
        _ = cs_eventfd_signal(wakeFD.rawValue)
    }

    public func stop() {
        stopped = true
        wake()
    }

    public func run() {
        var events = [cs_epoll_event](repeating: cs_epoll_event(), count: 128)
        while !stopped {
            let count = events.withUnsafeMutableBufferPointer {
                cs_epoll_wait(epoll.rawValue, $0.baseAddress, Int32($0.count), -1)
            }
            wakeups &+= 1
            if count < 0 {
                if cs_errno() == EINTR { continue }
                fatalError("epoll_wait: \(SystemError("epoll_wait"))")
            }
            for index in 0..<Int(count) {
                let event = events[index]
                let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: event.data))
                let generation = UInt32(truncatingIfNeeded: event.data >> 32)
                guard let registration = registrations[fd], registration.generation == generation else { continue }
                registration.handler(event.events)
                if stopped { break }
            }
        }
    }
}
