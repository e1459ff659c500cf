/// Identifies a scheduled timer so it can be cancelled or moved.
package struct TimerID: Hashable, Sendable {
    let slot: Int32
    let generation: UInt64
}

/// The reactor's timers: a min-heap over a slab of slots. The heap holds
/// the timers that are armed (and, briefly, some that were moved or
/// disarmed, see below), so its size follows the live connections, not
/// the requests. Pure: the caller passes the time, so tests drive it
/// without a clock.
///
/// A timer is one-shot (`schedule`: its slot is freed when it fires or is
/// cancelled) or held (`hold`: its owner keeps the slot and its action
/// while the timer is disarmed or has fired, and re-arms it with
/// `reschedule`; `cancel` frees it). A connection's one deadline is held.
///
/// Moving a deadline later, or disarming a held timer, does not touch the
/// heap: the slot's deadline changes and its place in the heap (`key`)
/// stays where it was, earlier. When that key comes due the slot is put
/// back in order at its real deadline (or dropped, if disarmed) before
/// anything fires, so timers still fire in deadline order. A connection
/// that sets and clears its deadline several times per request so costs
/// a store, not a sift, and a re-sort about once per timeout. Only an
/// earlier deadline sifts at once (the timerfd may need to be earlier).
struct TimerQueue {
    private struct Slot {
        var generation: UInt64 = 0
        /// When it fires (meaningful while armed).
        var deadline: UInt64 = 0
        /// Its order in the heap: at most `deadline` while armed.
        var key: UInt64 = 0
        /// Position in `heap`, or -1 when not in it.
        var heapIndex: Int32 = -1
        var armed = false
        /// Kept by its owner when not armed (a held timer).
        var held = false
        var action: (() -> Void)?
    }

    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    /// Slot numbers ordered as a binary min-heap by (key, slot).
    private var heap: [Int32] = []
    /// Queue-wide, so an old TimerID never matches a reused slot.
    private var nextGeneration: UInt64 = 1
    /// Held slots, armed or not.
    private(set) var heldCount = 0
    private var armedCount = 0

    /// Armed timers.
    var count: Int { armedCount }
    var isEmpty: Bool { armedCount == 0 }

    /// When the heap next needs a look: the earliest armed deadline, or
    /// earlier when a moved or disarmed timer's old place comes first.
    var nextDeadline: UInt64? { heap.first.map { slots[Int($0)].key } }

    mutating func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerID {
        let id = take(action, held: false)
        arm(Int(id.slot), at: deadline)
        return id
    }

    /// A held timer, not armed yet (`reschedule` arms it).
    mutating func hold(_ action: @escaping () -> Void) -> TimerID {
        take(action, held: true)
    }

    private mutating func take(_ action: @escaping () -> Void, held: Bool) -> TimerID {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = Int32(slots.count)
            slots.append(Slot())
        }
        slots[Int(slot)].generation = nextGeneration
        nextGeneration &+= 1
        slots[Int(slot)].action = action
        slots[Int(slot)].held = held
        if held { heldCount += 1 }
        return TimerID(slot: slot, generation: slots[Int(slot)].generation)
    }

    /// Arms a slot at `deadline`: in the heap already (at an earlier key, or
    /// a later one it now moves up from), or put in.
    private mutating func arm(_ slot: Int, at deadline: UInt64) {
        if !slots[slot].armed {
            slots[slot].armed = true
            armedCount += 1
        }
        slots[slot].deadline = deadline
        let index = Int(slots[slot].heapIndex)
        if index < 0 {
            slots[slot].key = deadline
            slots[slot].heapIndex = Int32(heap.count)
            heap.append(Int32(slot))
            siftUp(heap.count - 1)
        } else if deadline < slots[slot].key {
            slots[slot].key = deadline
            siftUp(index)
        }
    }

    private func owns(_ id: TimerID) -> Bool {
        guard id.slot >= 0, Int(id.slot) < slots.count else { return false }
        let slot = slots[Int(id.slot)]
        return slot.generation == id.generation && (slot.armed || slot.held)
    }

    /// Armed: it will fire unless moved, disarmed or cancelled.
    func isScheduled(_ id: TimerID) -> Bool {
        guard id.slot >= 0, Int(id.slot) < slots.count else { return false }
        let slot = slots[Int(id.slot)]
        return slot.generation == id.generation && slot.armed
    }

    /// Moves an armed timer to a new deadline, or arms a held one (its
    /// action stays); false when it fired (one-shot) or was cancelled.
    @discardableResult
    mutating func reschedule(_ id: TimerID, at deadline: UInt64) -> Bool {
        guard owns(id) else { return false }
        arm(Int(id.slot), at: deadline)
        return true
    }

    /// A held timer stops running and keeps its slot (its heap place is
    /// dropped when it comes up); a one-shot one is cancelled.
    mutating func disarm(_ id: TimerID) {
        guard isScheduled(id) else { return }
        let slot = Int(id.slot)
        guard slots[slot].held else { return cancel(id) }
        slots[slot].armed = false
        armedCount -= 1
    }

    mutating func cancel(_ id: TimerID) {
        guard owns(id) else { return }
        let slot = Int(id.slot)
        if slots[slot].heapIndex >= 0 { removeFromHeap(at: Int(slots[slot].heapIndex)) }
        if slots[slot].armed {
            slots[slot].armed = false
            armedCount -= 1
        }
        free(slot)
    }

    /// Removes and returns the action of the earliest timer due at `now`
    /// (a held timer keeps its slot, disarmed). Heap places left by moves
    /// and disarms are settled on the way.
    mutating func popDue(now: UInt64) -> (() -> Void)? {
        while let head = heap.first, slots[Int(head)].key <= now {
            let slot = Int(head)
            if !slots[slot].armed {
                removeFromHeap(at: 0)
                continue
            }
            if slots[slot].key != slots[slot].deadline {
                slots[slot].key = slots[slot].deadline
                siftDown(0)
                continue
            }
            let action = slots[slot].action
            removeFromHeap(at: 0)
            slots[slot].armed = false
            armedCount -= 1
            if !slots[slot].held { free(slot) }
            return action
        }
        return nil
    }

    private mutating func removeFromHeap(at index: Int) {
        let slot = heap[index]
        let last = heap.removeLast()
        if index < heap.count {
            heap[index] = last
            slots[Int(last)].heapIndex = Int32(index)
            siftDown(index)
            siftUp(Int(slots[Int(last)].heapIndex))
        }
        slots[Int(slot)].heapIndex = -1
    }

    private mutating func free(_ slot: Int) {
        if slots[slot].held { heldCount -= 1 }
        slots[slot].held = false
        slots[slot].action = nil
        freeSlots.append(Int32(slot))
        if heap.isEmpty && heldCount == 0 && slots.count > 1024 {
            // A burst of connections is over: give the memory back.
            slots = []
            freeSlots = []
            heap = []
        }
    }

    private func earlier(_ a: Int32, _ b: Int32) -> Bool {
        let ka = slots[Int(a)].key, kb = slots[Int(b)].key
        return ka != kb ? ka < kb : a < b
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
