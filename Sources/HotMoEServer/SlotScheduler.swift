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
    /// Requests waiting for a slot, with the slot they asked for (llama-server's id_slot) and
    /// their prompt (a free slot holding the longest shared prefix is preferred).
    private var waiters: [(slot: Int?, prompt: [Int32], continuation: CheckedContinuation<Slot, Error>)] = []
    private var exclusiveWaiters: [CheckedContinuation<Void, Never>] = []
    private var exclusiveActive = false

    init(slots: [Slot], maxQueue: Int) {
        free = slots
        total = slots.count
        self.maxQueue = maxQueue
    }

    var busySlots: Int { total - free.count }
    var queueDepth: Int { waiters.count }

    /// A free slot for `prompt`: slot `id` when given (waiting for it if busy), otherwise the
    /// free slot whose cached tokens share the longest prefix with the prompt.
    func acquire(slot id: Int? = nil, prompt: [Int32] = []) async throws -> Slot {
        if let id, !(0..<total).contains(id) { throw SlotRangeError(id: id, total: total) }
        if !exclusiveActive, exclusiveWaiters.isEmpty, let s = take(slot: id, prompt: prompt) { return s }
        guard waiters.count < maxQueue else { throw ServerBusy() }
        return try await withCheckedThrowingContinuation { waiters.append((id, prompt, $0)) }
    }

    private func take(slot id: Int?, prompt: [Int32]) -> Slot? {
        let index: Int?
        if let id {
            index = free.firstIndex { $0.id == id }
        } else {
            index = free.indices.max { free[$0].sharedPrefix(with: prompt) < free[$1].sharedPrefix(with: prompt) }
        }
        return index.map { free.remove(at: $0) }
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
        // FIFO, except that a request for a busy slot lets later ones pass.
        var i = 0
        while i < waiters.count, !free.isEmpty {
            if let s = take(slot: waiters[i].slot, prompt: waiters[i].prompt) {
                waiters.remove(at: i).continuation.resume(returning: s)
            } else {
                i += 1
            }
        }
    }
}

/// id_slot outside the server's slots: a 400.
struct SlotRangeError: Error, CustomStringConvertible {
    let id: Int, total: Int
    var description: String { "'id_slot' \(id) does not exist: the server has slots 0..<\(total) (--parallel)" }
}
