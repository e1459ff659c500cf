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

/// The reactor's timer heap, driven with made-up times (it takes `now`).
@Suite("TimerQueue") struct TimerQueueTests {
    /// Records which actions ran, in order.
    final class Log {
        var fired: [Int] = []
        func action(_ tag: Int) -> () -> Void { { [unowned self] in self.fired.append(tag) } }
    }

    static func drain(_ queue: inout TimerQueue, now: UInt64) {
        while let action = queue.popDue(now: now) { action() }
    }

    @Test func firesInDeadlineOrderAndOnlyWhenDue() {
        var queue = TimerQueue()
        let log = Log()
        for deadline in [50, 10, 30, 20, 40, 10_000, 5] { _ = queue.schedule(at: UInt64(deadline), log.action(deadline)) }
        #expect(queue.count == 7)
        #expect(queue.nextDeadline == 5)
        Self.drain(&queue, now: 25)
        #expect(log.fired == [5, 10, 20])
        #expect(queue.nextDeadline == 30)
        Self.drain(&queue, now: 50)
        #expect(log.fired == [5, 10, 20, 30, 40, 50])
        #expect(queue.count == 1)
        Self.drain(&queue, now: 9_999)
        #expect(log.fired.count == 6, "not due yet")
        Self.drain(&queue, now: .max)
        #expect(log.fired.last == 10_000)
        #expect(queue.isEmpty && queue.nextDeadline == nil)
    }

    @Test func manyRandomDeadlinesComeOutSorted() {
        var queue = TimerQueue()
        var generator = SystemRandomNumberGenerator()
        var deadlines: [UInt64] = []
        let log = Log()
        for index in 0..<5000 {
            let deadline = UInt64.random(in: 1...1_000_000, using: &generator)
            deadlines.append(deadline)
            _ = queue.schedule(at: deadline, log.action(index))
        }
        Self.drain(&queue, now: .max)
        let firedDeadlines = log.fired.map { deadlines[$0] }
        #expect(firedDeadlines == deadlines.sorted())
        #expect(queue.isEmpty)
    }

    @Test func cancelRemovesAtOnce() {
        var queue = TimerQueue()
        let log = Log()
        let a = queue.schedule(at: 10, log.action(1))
        let b = queue.schedule(at: 20, log.action(2))
        let c = queue.schedule(at: 30, log.action(3))
        queue.cancel(a)
        #expect(queue.count == 2, "gone from the heap, not marked and kept")
        #expect(!queue.isScheduled(a))
        #expect(queue.nextDeadline == 20)
        queue.cancel(c)
        queue.cancel(c)
        #expect(queue.count == 1)
        Self.drain(&queue, now: 100)
        #expect(log.fired == [2])
        #expect(!queue.isScheduled(b), "fired timers are no longer scheduled")
        queue.cancel(b)
        #expect(queue.isEmpty)
    }

    @Test func rescheduleMovesEarlierAndLater() {
        var queue = TimerQueue()
        let log = Log()
        let a = queue.schedule(at: 100, log.action(1))
        let b = queue.schedule(at: 200, log.action(2))
        let c = queue.schedule(at: 300, log.action(3))
        do { let moved = queue.reschedule(c, at: 50); #expect(moved, "earlier") }
        #expect(queue.nextDeadline == 50)
        do { let moved = queue.reschedule(a, at: 250); #expect(moved, "later") }
        #expect(queue.count == 3, "moved in place")
        Self.drain(&queue, now: 220)
        #expect(log.fired == [3, 2])
        do { let moved = queue.reschedule(b, at: 1_000); #expect(!moved, "fired: nothing to move") }
        queue.cancel(a)
        do { let moved = queue.reschedule(a, at: 1_000); #expect(!moved, "cancelled: nothing to move") }
        #expect(queue.isEmpty)
        Self.drain(&queue, now: .max)
        #expect(log.fired == [3, 2])
    }

    @Test func aStaleIDAfterItsSlotIsReusedDoesNothing() {
        var queue = TimerQueue()
        let log = Log()
        let old = queue.schedule(at: 10, log.action(1))
        queue.cancel(old)
        let reused = queue.schedule(at: 20, log.action(2))
        #expect(reused.slot == old.slot, "the freed slot was reused")
        #expect(!queue.isScheduled(old))
        queue.cancel(old)
        do { let moved = queue.reschedule(old, at: 1); #expect(!moved) }
        #expect(queue.isScheduled(reused))
        #expect(queue.count == 1)
        #expect(queue.nextDeadline == 20, "the reused slot's timer did not move")
        // Same after firing rather than cancelling.
        Self.drain(&queue, now: 20)
        let third = queue.schedule(at: 30, log.action(3))
        #expect(third.slot == reused.slot)
        queue.cancel(reused)
        #expect(queue.isScheduled(third))
        Self.drain(&queue, now: .max)
        #expect(log.fired == [2, 3])
    }

    @Test func sizeReturnsToZeroAfterChurn() {
        var queue = TimerQueue()
        var generator = SystemRandomNumberGenerator()
        let log = Log()
        // One timer per connection, rescheduled and cancelled: 100k times.
        var live: [TimerID] = []
        for round in 0..<100_000 {
            let id = queue.schedule(at: UInt64.random(in: 1...1_000_000, using: &generator), log.action(round))
            live.append(id)
            if live.count > 300 || Bool.random(using: &generator) {
                let index = Int.random(in: 0..<live.count, using: &generator)
                if Bool.random(using: &generator) {
                    queue.reschedule(live[index], at: UInt64.random(in: 1...1_000_000, using: &generator))
                } else {
                    queue.cancel(live.remove(at: index))
                }
            }
            #expect(queue.count == live.count)
            if queue.count != live.count { return }
        }
        for id in live { queue.cancel(id) }
        #expect(queue.count == 0)
        #expect(queue.isEmpty && queue.nextDeadline == nil)
        do { let action = queue.popDue(now: .max); #expect(action == nil) }
        #expect(log.fired.isEmpty)
        // Stale IDs from before the reset do nothing to new timers.
        let fresh = queue.schedule(at: 5, log.action(-1))
        for id in live.prefix(100) { queue.cancel(id) }
        #expect(queue.isScheduled(fresh) && queue.count == 1)
    }

    /// A connection's deadline: held for its life, armed and disarmed per
    /// request without a new slot or closure, kept after it fires, freed
    /// only by cancel.
    @Test func heldTimerKeepsItsSlotUntilCancelled() {
        var queue = TimerQueue()
        let log = Log()
        let held = queue.hold(log.action(1))
        #expect(queue.count == 0 && queue.heldCount == 1, "held, not armed")
        #expect(!queue.isScheduled(held))
        for round in 0..<1000 {
            let armed = queue.reschedule(held, at: UInt64(100 + round))
            #expect(armed, "arms it")
            #expect(queue.isScheduled(held) && queue.count == 1)
            queue.disarm(held)
            #expect(!queue.isScheduled(held) && queue.count == 0)
        }
        Self.drain(&queue, now: .max)
        #expect(log.fired.isEmpty, "a disarmed timer does not fire")
        queue.reschedule(held, at: 50)
        Self.drain(&queue, now: 60)
        #expect(log.fired == [1])
        #expect(queue.count == 0 && queue.heldCount == 1, "fired, still held")
        let rearmed = queue.reschedule(held, at: 70)
        #expect(rearmed, "re-armed after firing")
        Self.drain(&queue, now: 80)
        #expect(log.fired == [1, 1])
        queue.cancel(held)
        #expect(queue.heldCount == 0)
        let afterCancel = queue.reschedule(held, at: 90)
        #expect(!afterCancel, "cancelled: gone")
        // A one-shot timer is freed when disarmed.
        let once = queue.schedule(at: 10, log.action(2))
        queue.disarm(once)
        let onceMoved = queue.reschedule(once, at: 20)
        #expect(!onceMoved)
        Self.drain(&queue, now: .max)
        #expect(log.fired == [1, 1])
    }

    /// The memory given back after a burst of one-shot timers never takes a
    /// held timer's slot with it.
    @Test func heldTimerSurvivesTheBurstGiveBack() {
        var queue = TimerQueue()
        let log = Log()
        let held = queue.hold(log.action(-1))
        let burst = (0..<2000).map { queue.schedule(at: UInt64(1000 + $0), log.action($0)) }
        for id in burst { queue.cancel(id) }
        #expect(queue.count == 0 && queue.heldCount == 1)
        let other = queue.schedule(at: 5, log.action(7))
        let armed = queue.reschedule(held, at: 6)
        #expect(armed)
        Self.drain(&queue, now: .max)
        #expect(log.fired == [7, -1])
        #expect(!queue.isScheduled(other))
    }
}
