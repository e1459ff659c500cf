/// Identifies a scheduled timer so it can be cancelled or moved.
package struct TimerID: Hashable, Sendable {
    let slot: Int32
    let generation: UInt64
}

/// The reactor's timers: a min-heap of deadlines over a slab of slots.
/// Cancelling removes the entry at once and moving a deadline re-sifts it in
/// place, so the structure holds exactly the live timers (one per connection,
/// not one per request) and its memory follows the live connections. Pure:
/// the caller passes the time, so tests drive it without a clock.
struct TimerQueue {
    private struct Slot {
        var generation: UInt64 = 0
        var deadline: UInt64 = 0
        /// Position in `heap`, or -1 when the slot is free.
        var heapIndex: Int32 = -1
        var action: (() -> Void)?
    }

    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    /// Slot numbers ordered as a binary min-heap by (deadline, slot).
    private var heap: [Int32] = []
    /// Queue-wide, so an old TimerID never matches a reused slot.
    private var nextGeneration: UInt64 = 1

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }

    /// The earliest deadline, if any.
    var nextDeadline: UInt64? { heap.first.map { slots[Int($0)].deadline } }

    mutating func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerID {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = Int32(slots.count)
            slots.append(Slot())
        }
        slots[Int(slot)].generation = nextGeneration
        nextGeneration &+= 1
        slots[Int(slot)].deadline = deadline
        slots[Int(slot)].action = action
        slots[Int(slot)].heapIndex = Int32(heap.count)
        heap.append(slot)
        siftUp(heap.count - 1)
        return TimerID(slot: slot, generation: slots[Int(slot)].generation)
    }

    func isScheduled(_ id: TimerID) -> Bool {
        guard id.slot >= 0, Int(id.slot) < slots.count else { return false }
        let slot = slots[Int(id.slot)]
        return slot.generation == id.generation && slot.heapIndex >= 0
    }

    /// Moves a live timer to a new deadline (its action stays); false when
    /// it already fired or was cancelled.
    @discardableResult
    mutating func reschedule(_ id: TimerID, at deadline: UInt64) -> Bool {
        guard isScheduled(id) else { return false }
        let old = slots[Int(id.slot)].deadline
        slots[Int(id.slot)].deadline = deadline
        let index = Int(slots[Int(id.slot)].heapIndex)
        if deadline < old { siftUp(index) } else { siftDown(index) }
        return true
    }

    mutating func cancel(_ id: TimerID) {
        guard isScheduled(id) else { return }
        remove(at: Int(slots[Int(id.slot)].heapIndex))
    }

    /// Removes and returns the action of the earliest timer due at `now`.
    mutating func popDue(now: UInt64) -> (() -> Void)? {
        guard let head = heap.first, slots[Int(head)].deadline <= now else { return nil }
        let action = slots[Int(head)].action
        remove(at: 0)
        return action
    }

    private mutating func remove(at index: Int) {
        let slot = heap[index]
        let last = heap.removeLast()
        if index < heap.count {
            heap[index] = last
            slots[Int(last)].heapIndex = Int32(index)
            siftDown(index)
            siftUp(Int(slots[Int(last)].heapIndex))
        }
        slots[Int(slot)].heapIndex = -1
        slots[Int(slot)].action = nil
        freeSlots.append(slot)
        if heap.isEmpty && slots.count > 1024 {
            // A burst of connections is over: give the memory back.
            slots = []
            freeSlots = []
            heap = []
        }
    }

    private func earlier(_ a: Int32, _ b: Int32) -> Bool {
        let da = slots[Int(a)].deadline, db = slots[Int(b)].deadline
        return da != db ? da < db : a < b
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard earlier(heap[child], heap[parent]) else { break }
            swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && earlier(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count && earlier(heap[right], heap[smallest]) { smallest = right }
            if smallest == parent { return }
            swapAt(parent, smallest)
            parent = smallest
        }
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        heap.swapAt(i, j)
        slots[Int(heap[i])].heapIndex = Int32(i)
        slots[Int(heap[j])].heapIndex = Int32(j)
    }
}
