import Engine
import Foundation
import HotCache
import Logging

/// Too many requests are waiting: the caller answers 503 with Retry-After.
public struct ServerBusy: Error {}

/// Hands out the N inference slots (sessions) in FIFO order, with a bounded queue. Work that
/// must see the cache still (a manual /moe-hot-cache apply, the automatic post-request update)
/// runs `exclusive`: it waits until every slot is idle and keeps new requests waiting meanwhile,
/// so the cache never changes while a request decodes.
actor SlotScheduler {
    private var free: [Slot]
    private let total: Int
    private let maxQueue: Int
    private var waiters: [CheckedContinuation<Slot, Error>] = []
    private var exclusiveWaiters: [CheckedContinuation<Void, Never>] = []
    private var exclusiveActive = false

    init(slots: [Slot], maxQueue: Int) {
        free = slots
        total = slots.count
        self.maxQueue = maxQueue
    }

    var busySlots: Int { total - free.count }
    var queueDepth: Int { waiters.count }

    func acquire() async throws -> Slot {
        if !exclusiveActive, exclusiveWaiters.isEmpty, let s = free.popLast() { return s }
        guard waiters.count < maxQueue else { throw ServerBusy() }
        return try await withCheckedThrowingContinuation { waiters.append($0) }
    }

    func release(_ slot: Slot) {
        free.append(slot)
        dispatch()
    }

    /// Runs `body` with every slot idle and no request starting.
    func exclusive<T: Sendable>(_ body: @Sendable () throws -> T) async rethrows -> T {
        if exclusiveActive || free.count < total {
            await withCheckedContinuation { exclusiveWaiters.append($0) }
        }
        exclusiveActive = true
        defer {
            exclusiveActive = false
            dispatch()
        }
        return try body()
    }

    private func dispatch() {
        // Exclusive work first once everything is idle, then queued requests.
        if !exclusiveActive, free.count == total, !exclusiveWaiters.isEmpty {
            exclusiveActive = true
            exclusiveWaiters.removeFirst().resume()
            return
        }
        guard !exclusiveActive, exclusiveWaiters.isEmpty else { return }
        while !waiters.isEmpty, let s = free.popLast() { waiters.removeFirst().resume(returning: s) }
    }
}
