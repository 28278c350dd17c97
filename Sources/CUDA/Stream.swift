/// A non-blocking stream (CU_STREAM_NON_BLOCKING), destroyed with the object.
public final class Stream: @unchecked Sendable {
    public let context: Context
    let handle: OpaquePointer?

    public init(context: Context) throws {
        try context.makeCurrent()
        var s: OpaquePointer?
        try context.api.check(context.api.cuStreamCreate(&s, 0x1), "cuStreamCreate")
        self.context = context
        handle = s
    }

    deinit {
        _ = try? context.makeCurrent()
        _ = context.api.cuStreamDestroy(handle)
    }

    public func synchronize() throws {
        try context.makeCurrent()
        try context.api.check(context.api.cuStreamSynchronize(handle), "cuStreamSynchronize")
    }
}

/// A timing event (CU_EVENT_DEFAULT), destroyed with the object.
public final class Event: @unchecked Sendable {
    public let context: Context
    let handle: OpaquePointer?

    public init(context: Context) throws {
        try context.makeCurrent()
        var e: OpaquePointer?
        try context.api.check(context.api.cuEventCreate(&e, 0), "cuEventCreate")
        self.context = context
        handle = e
    }

    deinit {
        _ = try? context.makeCurrent()
        _ = context.api.cuEventDestroy(handle)
    }

    public func record(on stream: Stream) throws {
        try context.makeCurrent()
        try context.api.check(context.api.cuEventRecord(handle, stream.handle), "cuEventRecord")
    }

    public func synchronize() throws {
        try context.makeCurrent()
        try context.api.check(context.api.cuEventSynchronize(handle), "cuEventSynchronize")
    }

    /// Milliseconds from `start` to this event (both recorded and complete).
    public func milliseconds(since start: Event) throws -> Double {
        try context.makeCurrent()
        var ms: Float = 0
        try context.api.check(context.api.cuEventElapsedTime(&ms, start.handle, handle), "cuEventElapsedTime")
        return Double(ms)
    }
}
