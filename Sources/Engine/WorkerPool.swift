import Dispatch

/// Splits work over a fixed number of threads. Dispatch keeps its worker threads alive
/// between calls, so no thread is created per operation.
public final class WorkerPool: @unchecked Sendable {
    public let threadCount: Int

    public init(threads: Int) {
        threadCount = max(1, threads)
    }

    /// Runs `body(i)` for i in 0..<count, spread over the pool. Runs inline when there is
    /// nothing to split, so tiny operations pay no hand-off.
    public func run(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if count == 1 || threadCount == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
        }
    }

    /// Splits 0..<total into about `threadCount * oversubscribe` ranges aligned to `granularity`,
    /// and runs `body(range)` for each.
    public func forRanges(_ total: Int, granularity: Int = 1, oversubscribe: Int = 1, _ body: (Range<Int>) -> Void) {
        let ranges = WorkerPool.split(total, parts: threadCount * oversubscribe, granularity: granularity)
        run(ranges.count) { body(ranges[$0]) }
    }

    static func split(_ total: Int, parts: Int, granularity: Int) -> [Range<Int>] {
        guard total > 0 else { return [] }
        let units = (total + granularity - 1) / granularity
        let n = max(1, min(parts, units))
        var out = [Range<Int>]()
        out.reserveCapacity(n)
        var start = 0
        for i in 0..<n {
            let endUnit = units * (i + 1) / n
            let end = min(total, endUnit * granularity)
            if end > start { out.append(start..<end) }
            start = end
        }
        return out
    }
}

/// Carries a non-Sendable value (a closure over raw buffers) into concurrent work whose
/// lifetime the caller bounds.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
