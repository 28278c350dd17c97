import CUDA

/// The compiled kernels on one device with the helpers the checks need: upload, launch and
/// wait, download.
public final class DeviceRunner {
    public let context: Context
    public let library: KernelLibrary
    public let stream: Stream

    public init(context: Context, compiler: NVRTC) throws {
        self.context = context
        library = try KernelLibrary(context: context, compiler: compiler)
        stream = try Stream(context: context)
    }

    public func upload<T>(_ values: [T]) throws -> DeviceBuffer {
        let b = try DeviceBuffer(context: context, byteCount: max(1, values.count * MemoryLayout<T>.stride))
        try values.withUnsafeBytes { if $0.count > 0 { try b.upload($0.baseAddress!, count: $0.count) } }
        return b
    }

    public func zeros(floats n: Int) throws -> DeviceBuffer {
        let b = try DeviceBuffer(context: context, byteCount: max(1, n) * 4)
        try b.zero()
        return b
    }

    /// Launches `name` and waits for it, so a failing kernel is reported at its own launch.
    public func run(_ name: String, _ shape: LaunchShape, _ arguments: [KernelArgument]) throws {
        try library.kernel(name).launch(shape, on: stream, arguments)
        try stream.synchronize()
    }

    public func floats(_ b: DeviceBuffer, _ n: Int) throws -> [Float] { try b.downloadFloats(n) }
}

/// ceil(a / b) for positive b.
func blocks(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
