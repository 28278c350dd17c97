/// One CUDA device and what the backend needs to know about it.
public struct DeviceInfo: Sendable, Equatable {
    public let ordinal: Int
    public let name: String
    public let totalBytes: Int
    public let computeCapability: (major: Int, minor: Int)
    public let multiprocessors: Int

    public static func == (a: DeviceInfo, b: DeviceInfo) -> Bool {
        a.ordinal == b.ordinal && a.name == b.name && a.totalBytes == b.totalBytes
            && a.computeCapability == b.computeCapability && a.multiprocessors == b.multiprocessors
    }

    /// llama.cpp's device name for `--device` ("CUDA0").
    public var backendName: String { "CUDA\(ordinal)" }

    /// "sm_90" style architecture tag.
    public var architecture: String { "sm_\(computeCapability.major)\(computeCapability.minor)" }
}

/// A device with its primary context retained for as long as this object lives.
public final class Context: @unchecked Sendable {
    let api: DriverAPI
    public let info: DeviceInfo
    private let device: Int32
    private let handle: OpaquePointer

    // CUdevice_attribute values (cuda.h).
    private static let attributeMultiprocessorCount: Int32 = 16
    private static let attributeComputeMajor: Int32 = 75
    private static let attributeComputeMinor: Int32 = 76

    /// Opens device `ordinal` (0-based), retaining its primary context and making it current.
    public init(ordinal: Int = 0) throws {
        api = try CUDADriver.api()
        let count = try CUDADriver.deviceCount()
        guard ordinal >= 0, ordinal < count else {
            throw CUDAError.invalidArgument("no device CUDA\(ordinal) (the driver sees \(count))")
        }
        var dev: Int32 = 0
        try api.check(api.cuDeviceGet(&dev, Int32(ordinal)), "cuDeviceGet")
        device = dev
        info = try Context.describe(api, dev, ordinal: ordinal)
        var ctx: OpaquePointer?
        try api.check(api.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain")
        guard let ctx else { throw CUDAError.invalidArgument("cuDevicePrimaryCtxRetain returned no context") }
        handle = ctx
        try makeCurrent()
    }

    deinit {
        _ = api.cuDevicePrimaryCtxRelease(device)
    }

    /// Every device the driver sees.
    public static func devices() throws -> [DeviceInfo] {
        let api = try CUDADriver.api()
        return try (0..<CUDADriver.deviceCount()).map { i in
            var dev: Int32 = 0
            try api.check(api.cuDeviceGet(&dev, Int32(i)), "cuDeviceGet")
            return try describe(api, dev, ordinal: i)
        }
    }

    private static func describe(_ api: DriverAPI, _ dev: Int32, ordinal: Int) throws -> DeviceInfo {
        var name = [CChar](repeating: 0, count: 256)
        try api.check(api.cuDeviceGetName(&name, Int32(name.count - 1), dev), "cuDeviceGetName")
        var total = 0
        try api.check(api.cuDeviceTotalMem(&total, dev), "cuDeviceTotalMem_v2")
        func attribute(_ a: Int32) throws -> Int {
            var v: Int32 = 0
            try api.check(api.cuDeviceGetAttribute(&v, a, dev), "cuDeviceGetAttribute")
            return Int(v)
        }
        let nameText = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return DeviceInfo(ordinal: ordinal, name: nameText, totalBytes: total,
                          computeCapability: (try attribute(attributeComputeMajor), try attribute(attributeComputeMinor)),
                          multiprocessors: try attribute(attributeMultiprocessorCount))
    }

    /// Binds the context to the calling thread (driver calls act on the current context).
    public func makeCurrent() throws {
        try api.check(api.cuCtxSetCurrent(handle), "cuCtxSetCurrent")
    }

    /// (free, total) device memory in bytes.
    public func memoryInfo() throws -> (free: Int, total: Int) {
        try makeCurrent()
        var free = 0, total = 0
        try api.check(api.cuMemGetInfo(&free, &total), "cuMemGetInfo_v2")
        return (free, total)
    }

    public func synchronize() throws {
        try makeCurrent()
        try api.check(api.cuCtxSynchronize(), "cuCtxSynchronize")
    }
}
