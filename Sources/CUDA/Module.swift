/// A loaded PTX module, unloaded with the object (its kernels keep it alive).
public final class Module: @unchecked Sendable {
    public let context: Context
    let handle: OpaquePointer?

    /// Loads a compiled image: a CUBIN, or PTX text ending in NUL (JIT-compiled by the driver).
    public init(context: Context, image: [UInt8]) throws {
        guard !image.isEmpty else { throw CUDAError.invalidArgument("empty module image") }
        try context.makeCurrent()
        var m: OpaquePointer?
        try image.withUnsafeBytes { p in
            try context.api.check(context.api.cuModuleLoadData(&m, p.baseAddress!), "cuModuleLoadData")
        }
        self.context = context
        handle = m
    }

    deinit {
        _ = try? context.makeCurrent()
        _ = context.api.cuModuleUnload(handle)
    }

    /// The entry point `name`; with a `signature`, every launch is checked against it.
    public func kernel(_ name: String, signature: [ParameterKind]? = nil) throws -> Kernel {
        try context.makeCurrent()
        var f: OpaquePointer?
        try context.api.check(context.api.cuModuleGetFunction(&f, handle, name), "cuModuleGetFunction(\(name))")
        return Kernel(module: self, name: name, handle: f, signature: signature)
    }
}

/// One kernel argument, stored the way the kernel's C parameter expects it.
public enum KernelArgument: Sendable {
    /// A device pointer parameter (`T*`): the 64-bit address.
    case pointer(UInt64)
    case int32(Int32)
    /// A `long long` parameter (row strides in bytes, element counts past 2^31).
    case int64(Int64)
    case float(Float)

    public static func buffer(_ b: DeviceBuffer, offset: Int = 0) -> KernelArgument { .pointer(b.address + UInt64(offset)) }
    public static func int(_ v: Int) -> KernelArgument { .int32(Int32(truncatingIfNeeded: v)) }
}

/// Launch geometry.
public struct LaunchShape: Sendable, Equatable {
    public var grid: (x: Int, y: Int, z: Int)
    public var block: (x: Int, y: Int, z: Int)
    public var sharedBytes: Int

    public init(grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int = 0) {
        self.grid = (grid.0, grid.1, grid.2)
        self.block = (block.0, block.1, block.2)
        self.sharedBytes = sharedBytes
    }

    public static func == (a: LaunchShape, b: LaunchShape) -> Bool {
        a.grid == b.grid && a.block == b.block && a.sharedBytes == b.sharedBytes
    }

    /// The grid limits every kernel here stays in (x < 2^31, y and z < 65536, blocks <= 1024 threads).
    func validate() throws {
        let dims = [grid.x, grid.y, grid.z, block.x, block.y, block.z]
        guard dims.allSatisfy({ $0 >= 1 }), grid.x < Int(Int32.max), grid.y < 65536, grid.z < 65536,
              block.x * block.y * block.z <= 1024, sharedBytes >= 0 else {
            throw CUDAError.invalidArgument("bad launch shape grid \(grid) block \(block)")
        }
    }
}

public final class Kernel: @unchecked Sendable {
    public let module: Module
    public let name: String
    let handle: OpaquePointer?
    public let signature: [ParameterKind]?

    init(module: Module, name: String, handle: OpaquePointer?, signature: [ParameterKind]?) {
        self.module = module
        self.name = name
        self.handle = handle
        self.signature = signature
    }

    /// Launches on `stream`. cuLaunchKernel takes an array of pointers, one per parameter,
    /// each to the parameter's value; it copies them before returning, so they live only here.
    public func launch(_ shape: LaunchShape, on stream: Stream, _ arguments: [KernelArgument]) throws {
        try shape.validate()
        if let signature { try KernelSignatures.check(kernel: name, signature: signature, arguments: arguments) }
        let context = module.context
        try context.makeCurrent()
        // One 8-byte, 8-aligned slot per argument covers pointers, ints and floats.
        let slots = UnsafeMutableRawPointer.allocate(byteCount: max(1, arguments.count) * 8, alignment: 8)
        defer { slots.deallocate() }
        let params = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: max(1, arguments.count))
        defer { params.deallocate() }
        for (i, a) in arguments.enumerated() {
            let slot = slots + 8 * i
            switch a {
            case .pointer(let p): slot.storeBytes(of: p, as: UInt64.self)
            case .int32(let v): slot.storeBytes(of: v, as: Int32.self)
            case .int64(let v): slot.storeBytes(of: v, as: Int64.self)
            case .float(let v): slot.storeBytes(of: v, as: Float.self)
            }
            params[i] = slot
        }
        try context.api.check(
            context.api.cuLaunchKernel(handle, UInt32(shape.grid.x), UInt32(shape.grid.y), UInt32(shape.grid.z),
                                       UInt32(shape.block.x), UInt32(shape.block.y), UInt32(shape.block.z),
                                       UInt32(shape.sharedBytes), stream.handle, params, nil),
            "cuLaunchKernel(\(name))")
    }
}
