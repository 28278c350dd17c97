#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A read of byte ranges of the model file into one buffer, done by the reader's lanes.
/// `data(part)` points at a range's first byte once `isDone`; `error` says why it failed.
/// A done read can be handed back to `submit` to be reused, so a decode step allocates none.
public final class FileRead: @unchecked Sendable {
    struct Part { let offset: Int, length: Int, bufferOffset: Int, alignedStart: Int, alignedLength: Int }
    /// Rewritten only while no lane holds the read (before it is queued).
    fileprivate(set) var parts: [Part] = []
    fileprivate(set) var buffer: UnsafeMutableRawPointer
    fileprivate var remaining = 0
    fileprivate(set) var error: String?

    fileprivate init(buffer: UnsafeMutableRawPointer) { self.buffer = buffer }

    /// Lays the ranges out back to back in the buffer, each widened to whole aligned blocks.
    fileprivate func reset<Ranges: Sequence>(ranges: Ranges, buffer: UnsafeMutableRawPointer)
    where Ranges.Element == (offset: Int, length: Int) {
        parts.removeAll(keepingCapacity: true)
        var at = 0
        for r in ranges {
            let start = r.offset & ~(ExpertReader.alignment - 1)
            let end = (r.offset + r.length + ExpertReader.alignment - 1) & ~(ExpertReader.alignment - 1)
            parts.append(Part(offset: r.offset, length: r.length, bufferOffset: at, alignedStart: start, alignedLength: end - start))
            at += end - start
        }
        self.buffer = buffer
        remaining = parts.count
        error = nil
    }

    var isDone: Bool { remaining == 0 }
    func data(_ part: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(buffer + parts[part].bufferOffset + (parts[part].offset - parts[part].alignedStart))
    }
}

/// Reads expert bytes from the model file on several lanes at once (seed 001's streaming
/// case, with the phone anchor's recipe: O_DIRECT where the file system allows it, aligned
/// buffers, 4 reads in flight). Buffered reads drop their pages after use: the RAM expert
/// cache, not the page cache, decides what stays. A failed or short read (I/O error, a file
/// that shrank) fails that read with a message; nothing traps.
public final class ExpertReader: @unchecked Sendable {
    /// O_DIRECT needs offsets, lengths and buffers aligned to the logical block size; 4096
    /// covers every common device.
    public static let alignment = 4096
    /// Linux's O_DIRECT (Glibc's Swift module hides it behind _GNU_SOURCE); 0 elsewhere.
    #if os(Linux) && arch(x86_64)
    static let directFlag: Int32 = 0o40000
    #elseif os(Linux) && arch(arm64)
    static let directFlag: Int32 = 0o200000
    #else
    static let directFlag: Int32 = 0
    #endif
    public let path: String
    public let lanes: Int
    private let bufferedFD: Int32
    private var directFD: Int32
    private let condition = NSCondition()
    private var queue: [(FileRead, Int)] = []
    private var queueHead = 0
    private var stopping = false
    private var inFlight = 0
    private var busySince: ContinuousClock.Instant?
    private(set) var bytesRead = 0
    private(set) var busyNanos: UInt64 = 0
    private(set) var reads = 0
    /// Test hook: fail every read after this many more part reads (simulates an I/O error).
    private var failAfterParts: Int?

    func setFailure(afterParts parts: Int?) {
        condition.lock(); failAfterParts = parts; condition.unlock()
    }

    public init(path: String, lanes: Int = 4, direct: Bool = true) throws {
        self.path = path
        self.lanes = max(1, lanes)
        bufferedFD = open(path, O_RDONLY)
        guard bufferedFD >= 0 else { throw HotCacheError("\(path): cannot open for streaming (\(String(cString: strerror(errno))))") }
        directFD = direct && Self.directFlag != 0 ? open(path, O_RDONLY | Self.directFlag) : -1
        for i in 0..<self.lanes {
            // Lanes hold the reader until `shutdown()`: its owner must call it.
            let t = Thread { self.laneLoop() }
            t.name = "hotmoe-read-\(i)"
            t.start()
        }
    }

    deinit {
        close(bufferedFD)
        if directFD >= 0 { close(directFD) }
    }

    /// Stops the lanes once the queue is empty; they release the reader as they exit.
    public func shutdown() {
        condition.lock(); stopping = true; condition.broadcast(); condition.unlock()
    }

    public var usesDirectIO: Bool { directFD >= 0 }

    /// Buffer bytes a read of these (offset, length) ranges needs.
    public static func bufferBytes<Ranges: Sequence>(ranges: Ranges) -> Int where Ranges.Element == (offset: Int, length: Int) {
        ranges.reduce(0) { total, r in
            total + ((r.offset + r.length + alignment - 1) & ~(alignment - 1)) - (r.offset & ~(alignment - 1))
        }
    }

    /// Buffer bytes enough for ranges of these lengths at any offsets (an unaligned start
    /// can add one block).
    public static func bufferBytes(lengths: [Int]) -> Int {
        lengths.reduce(0) { $0 + ($1 + alignment - 1) / alignment * alignment + alignment }
    }

    /// Queues a read of `ranges` into `buffer` (`bufferBytes(ranges:)` bytes, 4096-aligned).
    /// `reusing`: a done read of this reader to fill again instead of a new one.
    public func submit<Ranges: Sequence>(ranges: Ranges, buffer: UnsafeMutableRawPointer, reusing: FileRead? = nil) -> FileRead
    where Ranges.Element == (offset: Int, length: Int) {
        let read = reusing ?? FileRead(buffer: buffer)
        precondition(read.isDone, "a read is reused while in flight")
        read.reset(ranges: ranges, buffer: buffer)
        condition.lock()
        for i in read.parts.indices { queue.append((read, i)) }
        condition.signal()
        if read.parts.count > 1 { condition.broadcast() }
        condition.unlock()
        return read
    }

    /// Blocks until `read` is done; throws its error.
    public func wait(_ read: FileRead) throws {
        condition.lock()
        while !read.isDone { condition.wait() }
        let error = read.error
        condition.unlock()
        if let error { throw HotCacheError(error) }
    }

    /// Blocks until one of `reads` is done and returns its index (nil for an empty list).
    public func waitAny<Reads: Collection>(_ reads: Reads) -> Reads.Index? where Reads.Element == FileRead {
        guard !reads.isEmpty else { return nil }
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let i = reads.firstIndex(where: { $0.isDone }) { return i }
            condition.wait()
        }
    }

    public func isDone(_ read: FileRead) -> Bool {
        condition.lock(); defer { condition.unlock() }
        return read.isDone
    }

    /// Bytes read and the wall time during which at least one read was in flight.
    public var stats: (bytes: Int, busyNanos: UInt64, reads: Int) {
        condition.lock(); defer { condition.unlock() }
        return (bytesRead, busyNanos, reads)
    }

    private func laneLoop() {
        while true {
            condition.lock()
            while queueHead == queue.count && !stopping { condition.wait() }
            if queueHead == queue.count {
                condition.unlock()
                return
            }
            let (read, index) = queue[queueHead]
            queueHead += 1
            if queueHead == queue.count { queue.removeAll(keepingCapacity: true); queueHead = 0 }
            if inFlight == 0 { busySince = .now }
            inFlight += 1
            var fail = false
            if let n = failAfterParts { if n <= 0 { fail = true } else { failAfterParts = n - 1 } }
            condition.unlock()

            let part = read.parts[index]
            let error = fail ? "read of \(path) at offset \(part.offset) failed: injected I/O error" : readPart(part, into: read.buffer)

            condition.lock()
            inFlight -= 1
            if error == nil { bytesRead += part.length }
            if inFlight == 0, let since = busySince { busyNanos += nanos(.now - since); busySince = nil }
            if let error, read.error == nil { read.error = error }
            read.remaining -= 1
            if read.remaining == 0 { reads += 1 }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// One range: direct when possible, else buffered (then its pages are dropped).
    private func readPart(_ p: FileRead.Part, into buffer: UnsafeMutableRawPointer) -> String? {
        let fd = directFD
        if fd >= 0 {
            let need = p.offset - p.alignedStart + p.length
            switch readFully(fd, buffer + p.bufferOffset, count: p.alignedLength, at: p.alignedStart, need: need) {
            case .ok: return nil
            case .failed(let code) where code == EINVAL:
                // The file system refuses O_DIRECT after all: buffered reads from now on.
                condition.lock()
                if directFD >= 0 { close(directFD); directFD = -1 }
                condition.unlock()
            case .failed(let code): return "read of \(path) at offset \(p.offset) failed: \(String(cString: strerror(code)))"
            case .short(let got): return shortMessage(p, got: got - (p.offset - p.alignedStart))
            }
        }
        let dst = buffer + p.bufferOffset + (p.offset - p.alignedStart)
        switch readFully(bufferedFD, dst, count: p.length, at: p.offset, need: p.length) {
        case .ok:
            _ = posix_fadvise(bufferedFD, off_t(p.offset), off_t(p.length), Int32(POSIX_FADV_DONTNEED))
            return nil
        case .failed(let code): return "read of \(path) at offset \(p.offset) failed: \(String(cString: strerror(code)))"
        case .short(let got): return shortMessage(p, got: got)
        }
    }

    private func shortMessage(_ p: FileRead.Part, got: Int) -> String {
        "read of \(path) at offset \(p.offset) returned \(max(0, got)) of \(p.length) bytes: the model file shrank or changed while in use"
    }

    private enum Outcome { case ok, failed(Int32), short(Int) }

    private func readFully(_ fd: Int32, _ dst: UnsafeMutableRawPointer, count: Int, at offset: Int, need: Int) -> Outcome {
        var done = 0
        while done < need {
            let n = pread(fd, dst + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                return .failed(errno)
            }
            if n == 0 { return .short(done) }
            done += n
        }
        return .ok
    }
}
