#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A persistent pool for the many small parallel regions of a decode step (about ten per
/// layer). Workers spin briefly between regions, then sleep, so a region costs an atomic
/// store instead of a thread wake-up; an idle pool uses no CPU. Workers hold only the shared
/// state, so dropping the pool stops them.
public final class WorkerPool: @unchecked Sendable {
    public let threadCount: Int
    private let state: PoolState

    public init(threads: Int) {
        threadCount = max(1, threads)
        state = PoolState()
        for _ in 1..<threadCount {
            var t = pthread_t()
            let unmanaged = Unmanaged.passRetained(state)
            let rc = pthread_create(&t, nil, { arg in
                Unmanaged<PoolState>.fromOpaque(arg!).takeRetainedValue().workerLoop()
                return nil
            }, unmanaged.toOpaque())
            if rc == 0 {
                pthread_detach(t)
                state.workers += 1
            } else {
                unmanaged.release()
            }
        }
    }

    deinit { state.stop() }

    /// Runs `body(i)` for i in 0..<count across the pool and returns when all are done.
    /// A nested or concurrent call runs inline on the calling thread.
    /// Handing a closure to the workers costs one small heap allocation (withoutActuallyEscaping
    /// boxes it); the per-token paths use the `ParallelBody` form, which costs none.
    public func run(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        guard enter(count) else {
            for i in 0..<count { body(i) }
            return
        }
        defer { state.busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { escaping in
            withUnsafePointer(to: escaping) { state.runRegion(count, context: UnsafeRawPointer($0), invoke: PoolState.invokeClosure) }
        }
    }

    /// Runs `body.run(i)` for i in 0..<count across the pool, like `run(_:_:)`, without any
    /// heap allocation: the workers read the body through a pointer to the caller's copy.
    public func run<Body: ParallelBody>(_ count: Int, _ body: Body) {
        if count <= 0 { return }
        guard enter(count) else {
            for i in 0..<count { body.run(i) }
            return
        }
        defer { state.busy.store(false, ordering: .releasing) }
        withUnsafePointer(to: body) { state.runRegion(count, context: UnsafeRawPointer($0), invoke: Body.invoke) }
    }

    /// Whether a region of `count` tasks goes to the workers (else it runs inline: one task, no
    /// workers, or a nested/concurrent call). On true the caller owns the pool until it clears `busy`.
    private func enter(_ count: Int) -> Bool {
        count > 1 && state.workers > 0 && state.busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    }

    /// Splits 0..<total into about `threadCount * oversubscribe` ranges aligned to `granularity`,
    /// and runs `body(range)` for each.
    public func forRanges(_ total: Int, granularity: Int = 1, oversubscribe: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = WorkerPool.partCount(total, parts: threadCount * oversubscribe, granularity: granularity)
        run(parts) { body(WorkerPool.range($0, of: parts, total: total, granularity: granularity)) }
    }

    /// Number of ranges `split` makes, without allocating them.
    static func partCount(_ total: Int, parts: Int, granularity: Int) -> Int {
        guard total > 0 else { return 0 }
        return max(1, min(parts, (total + granularity - 1) / granularity))
    }

    /// The i-th of `n` ranges covering 0..<total, boundaries on multiples of `granularity`.
    static func range(_ i: Int, of n: Int, total: Int, granularity: Int) -> Range<Int> {
        let units = (total + granularity - 1) / granularity
        let lo = min(total, units * i / n * granularity), hi = min(total, units * (i + 1) / n * granularity)
        return lo..<hi
    }

    static func split(_ total: Int, parts: Int, granularity: Int) -> [Range<Int>] {
        let n = partCount(total, parts: parts, granularity: granularity)
        return (0..<n).map { range($0, of: n, total: total, granularity: granularity) }.filter { !$0.isEmpty }
    }
}

/// A parallel loop body as a value: `run(i)` for each task index. The per-token regions use
/// these instead of closures so that starting a region allocates nothing.
public protocol ParallelBody {
    func run(_ i: Int)
}

extension ParallelBody {
    static func invoke(_ context: UnsafeRawPointer, _ i: Int) {
        context.assumingMemoryBound(to: Self.self).pointee.run(i)
    }
}

/// What the workers share with the pool.
final class PoolState: @unchecked Sendable {
    let generation = Atomic<Int>(0)
    let nextTask = Atomic<Int>(0)
    let finished = Atomic<Int>(0)
    let activeWorkers = Atomic<Int>(0)
    let sleepers = Atomic<Int>(0)
    let busy = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
    /// Generation whose region fields are valid, or -1 while they are being rewritten.
    let stamp = Atomic<Int>(-1)
    var workers = 0
    // Published before `generation` is bumped (release) and read after it is seen (acquire).
    nonisolated(unsafe) var taskCount = 0
    nonisolated(unsafe) var context: UnsafeRawPointer?
    nonisolated(unsafe) var invoke: ((UnsafeRawPointer, Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    /// Spins this long waiting for the next region before sleeping.
    static let spinNanos: UInt64 = 200_000

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(wake)
        mutex.deallocate()
        wake.deallocate()
    }

    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        wakeSleepers()
    }

    private func wakeSleepers() {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
    }

    static func invokeClosure(_ context: UnsafeRawPointer, _ i: Int) {
        context.assumingMemoryBound(to: ((Int) -> Void).self).pointee(i)
    }

    func runRegion(_ count: Int, context: UnsafeRawPointer, invoke: @escaping (UnsafeRawPointer, Int) -> Void) {
        // Entry protocol (sequentially consistent): a worker announces itself, then works only
        // if the stamp still names the generation it woke for. The region ends by invalidating
        // the stamp and waiting for the announced workers to leave, so no worker ever holds
        // this body (or reads these fields) after run returns.
        self.context = context
        self.invoke = invoke
        taskCount = count
        nextTask.store(0, ordering: .relaxed)
        finished.store(0, ordering: .relaxed)
        let g = generation.load(ordering: .relaxed) + 1
        stamp.store(g, ordering: .sequentiallyConsistent)
        generation.store(g, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 { wakeSleepers() }
        work()
        while finished.load(ordering: .acquiring) < count {}
        stamp.store(-1, ordering: .sequentiallyConsistent)
        while activeWorkers.load(ordering: .sequentiallyConsistent) != 0 {}
        self.context = nil
        self.invoke = nil
    }

    private func work() {
        let count = taskCount
        guard let invoke, let context else { return }
        var done = 0
        while true {
            let i = nextTask.add(1, ordering: .relaxed).oldValue
            if i >= count { break }
            invoke(context, i)
            done += 1
        }
        if done > 0 { finished.add(done, ordering: .releasing) }
    }

    func workerLoop() {
        var seen = generation.load(ordering: .acquiring)
        while true {
            var spins = 0
            var start: UInt64 = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                guard spins & 255 == 0 else { continue }
                let now = monotonicNanos()
                if start == 0 { start = now; continue }
                if now - start < PoolState.spinNanos {
                    sched_yield()  // share the core if other work is waiting
                    continue
                }
                pthread_mutex_lock(mutex)
                // Sequentially consistent with run's "store generation, then load sleepers": one
                // of the two always sees the other, so no wake-up is lost.
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(wake, mutex) }
                sleepers.subtract(1, ordering: .acquiringAndReleasing)
                pthread_mutex_unlock(mutex)
            }
            seen = generation.load(ordering: .sequentiallyConsistent)
            if stopping.load(ordering: .acquiring) { return }
            activeWorkers.add(1, ordering: .sequentiallyConsistent)
            if stamp.load(ordering: .sequentiallyConsistent) == seen { work() }
            activeWorkers.subtract(1, ordering: .sequentiallyConsistent)
        }
    }
}

@inline(__always) private func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Carries a non-Sendable value (a closure over raw buffers) into concurrent work whose
/// lifetime the caller bounds.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
