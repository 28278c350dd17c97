/// Device memory, freed when the object goes away.
public final class DeviceBuffer: @unchecked Sendable {
    public let context: Context
    public let byteCount: Int
    /// The CUdeviceptr (a 64-bit device address).
    public let address: UInt64

    public init(context: Context, byteCount: Int) throws {
        guard byteCount > 0 else { throw CUDAError.invalidArgument("device allocation of \(byteCount) bytes") }
        try context.makeCurrent()
        var p: UInt64 = 0
        try context.api.check(context.api.cuMemAlloc(&p, byteCount), "cuMemAlloc_v2 (\(byteCount) bytes)")
        self.context = context
        self.byteCount = byteCount
        address = p
    }

    deinit {
        _ = try? context.makeCurrent()
        _ = context.api.cuMemFree(address)
    }

    private func checkRange(_ offset: Int, _ count: Int) throws {
        guard offset >= 0, count >= 0, offset <= byteCount - count else {
            throw CUDAError.invalidArgument("copy of \(count) bytes at \(offset) outside a \(byteCount)-byte buffer")
        }
    }

    /// Synchronous host -> device copy.
    public func upload(_ source: UnsafeRawPointer, count: Int, at offset: Int = 0) throws {
        try checkRange(offset, count)
        try context.makeCurrent()
        try context.api.check(context.api.cuMemcpyHtoD(address + UInt64(offset), source, count), "cuMemcpyHtoD_v2")
    }

    /// Synchronous device -> host copy.
    public func download(into destination: UnsafeMutableRawPointer, count: Int, at offset: Int = 0) throws {
        try checkRange(offset, count)
        try context.makeCurrent()
        try context.api.check(context.api.cuMemcpyDtoH(destination, address + UInt64(offset), count), "cuMemcpyDtoH_v2")
    }

    /// Host -> device on `stream`; `source` must stay valid (and should be pinned) until it syncs.
    public func uploadAsync(_ source: UnsafeRawPointer, count: Int, at offset: Int = 0, stream: Stream) throws {
        try checkRange(offset, count)
        try context.makeCurrent()
        try context.api.check(context.api.cuMemcpyHtoDAsync(address + UInt64(offset), source, count, stream.handle),
                              "cuMemcpyHtoDAsync_v2")
    }

    /// Device -> host on `stream`; read `destination` only after the stream syncs.
    public func downloadAsync(into destination: UnsafeMutableRawPointer, count: Int, at offset: Int = 0, stream: Stream) throws {
        try checkRange(offset, count)
        try context.makeCurrent()
        try context.api.check(context.api.cuMemcpyDtoHAsync(destination, address + UInt64(offset), count, stream.handle),
                              "cuMemcpyDtoHAsync_v2")
    }

    public func zero() throws {
        try context.makeCurrent()
        try context.api.check(context.api.cuMemsetD8(address, 0, byteCount), "cuMemsetD8_v2")
    }

    public func upload(_ values: [Float], at offset: Int = 0) throws {
        try values.withUnsafeBytes { try upload($0.baseAddress!, count: $0.count, at: offset) }
    }

    public func downloadFloats(_ count: Int, at offset: Int = 0) throws -> [Float] {
        var out = [Float](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try download(into: $0.baseAddress!, count: $0.count, at: offset) }
        return out
    }
}

/// Page-locked host memory for asynchronous copies (cuMemHostAlloc), freed with the object.
public final class PinnedHostBuffer: @unchecked Sendable {
    public let context: Context
    public let byteCount: Int
    public let pointer: UnsafeMutableRawPointer

    public init(context: Context, byteCount: Int) throws {
        guard byteCount > 0 else { throw CUDAError.invalidArgument("pinned allocation of \(byteCount) bytes") }
        try context.makeCurrent()
        var p: UnsafeMutableRawPointer?
        // CU_MEMHOSTALLOC_PORTABLE: usable from every context.
        try context.api.check(context.api.cuMemHostAlloc(&p, byteCount, 0x01), "cuMemHostAlloc (\(byteCount) bytes)")
        guard let p else { throw CUDAError.invalidArgument("cuMemHostAlloc returned no memory") }
        self.context = context
        self.byteCount = byteCount
        pointer = p
    }

    deinit {
        _ = try? context.makeCurrent()
        _ = context.api.cuMemFreeHost(pointer)
    }
}

/// Pins existing host memory (a mapped model file's expert bytes) for the lifetime of the object.
public final class HostRegistration: @unchecked Sendable {
    public let context: Context
    public let pointer: UnsafeMutableRawPointer

    public init(context: Context, pointer: UnsafeMutableRawPointer, byteCount: Int) throws {
        try context.makeCurrent()
        // CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_READ_ONLY (the mapping is read-only).
        try context.api.check(context.api.cuMemHostRegister(pointer, byteCount, 0x01 | 0x08), "cuMemHostRegister_v2")
        self.context = context
        self.pointer = pointer
    }

    deinit {
        _ = try? context.makeCurrent()
        _ = context.api.cuMemHostUnregister(pointer)
    }
}
