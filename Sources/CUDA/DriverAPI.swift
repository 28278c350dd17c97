#if canImport(Glibc)
import Glibc
#endif

/// The CUDA driver API entry points the backend uses, resolved from libcuda.so.1 with dlsym.
/// ABI: CUresult is a C int, CUdevice an int, CUdeviceptr 64-bit, handles are opaque pointers,
/// size_t is Int (LP64).
struct DriverAPI: @unchecked Sendable {
    typealias Result = Int32
    typealias Handle = OpaquePointer

    let cuInit: @convention(c) (UInt32) -> Result
    let cuDriverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> Result
    let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> Result
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Result
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> Result
    let cuDeviceTotalMem: @convention(c) (UnsafeMutablePointer<Int>, Int32) -> Result
    let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> Result
    let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<Handle?>, Int32) -> Result
    let cuDevicePrimaryCtxRelease: @convention(c) (Int32) -> Result
    let cuCtxSetCurrent: @convention(c) (Handle?) -> Result
    let cuCtxSynchronize: @convention(c) () -> Result
    let cuMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> Result
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<UInt64>, Int) -> Result
    let cuMemFree: @convention(c) (UInt64) -> Result
    let cuMemsetD8: @convention(c) (UInt64, UInt8, Int) -> Result
    let cuMemcpyHtoD: @convention(c) (UInt64, UnsafeRawPointer, Int) -> Result
    let cuMemcpyDtoH: @convention(c) (UnsafeMutableRawPointer, UInt64, Int) -> Result
    let cuMemcpyHtoDAsync: @convention(c) (UInt64, UnsafeRawPointer, Int, Handle?) -> Result
    let cuMemcpyDtoHAsync: @convention(c) (UnsafeMutableRawPointer, UInt64, Int, Handle?) -> Result
    let cuMemHostAlloc: @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, Int, UInt32) -> Result
    let cuMemFreeHost: @convention(c) (UnsafeMutableRawPointer) -> Result
    let cuMemHostRegister: @convention(c) (UnsafeMutableRawPointer, Int, UInt32) -> Result
    let cuMemHostUnregister: @convention(c) (UnsafeMutableRawPointer) -> Result
    let cuStreamCreate: @convention(c) (UnsafeMutablePointer<Handle?>, UInt32) -> Result
    let cuStreamDestroy: @convention(c) (Handle?) -> Result
    let cuStreamSynchronize: @convention(c) (Handle?) -> Result
    let cuEventCreate: @convention(c) (UnsafeMutablePointer<Handle?>, UInt32) -> Result
    let cuEventDestroy: @convention(c) (Handle?) -> Result
    let cuEventRecord: @convention(c) (Handle?, Handle?) -> Result
    let cuEventSynchronize: @convention(c) (Handle?) -> Result
    let cuEventElapsedTime: @convention(c) (UnsafeMutablePointer<Float>, Handle?, Handle?) -> Result
    let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<Handle?>, UnsafeRawPointer) -> Result
    let cuModuleUnload: @convention(c) (Handle?) -> Result
    let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<Handle?>, Handle?, UnsafePointer<CChar>) -> Result
    // f, grid xyz, block xyz, shared bytes, stream, kernelParams (void**), extra (void**).
    let cuLaunchKernel: @convention(c) (Handle?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, Handle?,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Result
    let cuGetErrorName: @convention(c) (Result, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Result
    let cuGetErrorString: @convention(c) (Result, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Result

    init(_ lib: DynamicLibrary) throws {
        cuInit = try lib.symbol("cuInit", as: type(of: cuInit))
        cuDriverGetVersion = try lib.symbol("cuDriverGetVersion", as: type(of: cuDriverGetVersion))
        cuDeviceGetCount = try lib.symbol("cuDeviceGetCount", as: type(of: cuDeviceGetCount))
        cuDeviceGet = try lib.symbol("cuDeviceGet", as: type(of: cuDeviceGet))
        cuDeviceGetName = try lib.symbol("cuDeviceGetName", as: type(of: cuDeviceGetName))
        cuDeviceTotalMem = try lib.symbol("cuDeviceTotalMem_v2", as: type(of: cuDeviceTotalMem))
        cuDeviceGetAttribute = try lib.symbol("cuDeviceGetAttribute", as: type(of: cuDeviceGetAttribute))
        cuDevicePrimaryCtxRetain = try lib.symbol("cuDevicePrimaryCtxRetain", as: type(of: cuDevicePrimaryCtxRetain))
        cuDevicePrimaryCtxRelease = try lib.symbol("cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease",
                                                   as: type(of: cuDevicePrimaryCtxRelease))
        cuCtxSetCurrent = try lib.symbol("cuCtxSetCurrent", as: type(of: cuCtxSetCurrent))
        cuCtxSynchronize = try lib.symbol("cuCtxSynchronize", as: type(of: cuCtxSynchronize))
        cuMemGetInfo = try lib.symbol("cuMemGetInfo_v2", as: type(of: cuMemGetInfo))
        cuMemAlloc = try lib.symbol("cuMemAlloc_v2", as: type(of: cuMemAlloc))
        cuMemFree = try lib.symbol("cuMemFree_v2", as: type(of: cuMemFree))
        cuMemsetD8 = try lib.symbol("cuMemsetD8_v2", as: type(of: cuMemsetD8))
        cuMemcpyHtoD = try lib.symbol("cuMemcpyHtoD_v2", as: type(of: cuMemcpyHtoD))
        cuMemcpyDtoH = try lib.symbol("cuMemcpyDtoH_v2", as: type(of: cuMemcpyDtoH))
        cuMemcpyHtoDAsync = try lib.symbol("cuMemcpyHtoDAsync_v2", as: type(of: cuMemcpyHtoDAsync))
        cuMemcpyDtoHAsync = try lib.symbol("cuMemcpyDtoHAsync_v2", as: type(of: cuMemcpyDtoHAsync))
        cuMemHostAlloc = try lib.symbol("cuMemHostAlloc", as: type(of: cuMemHostAlloc))
        cuMemFreeHost = try lib.symbol("cuMemFreeHost", as: type(of: cuMemFreeHost))
        cuMemHostRegister = try lib.symbol("cuMemHostRegister_v2", "cuMemHostRegister", as: type(of: cuMemHostRegister))
        cuMemHostUnregister = try lib.symbol("cuMemHostUnregister", as: type(of: cuMemHostUnregister))
        cuStreamCreate = try lib.symbol("cuStreamCreate", as: type(of: cuStreamCreate))
        cuStreamDestroy = try lib.symbol("cuStreamDestroy_v2", "cuStreamDestroy", as: type(of: cuStreamDestroy))
        cuStreamSynchronize = try lib.symbol("cuStreamSynchronize", as: type(of: cuStreamSynchronize))
        cuEventCreate = try lib.symbol("cuEventCreate", as: type(of: cuEventCreate))
        cuEventDestroy = try lib.symbol("cuEventDestroy_v2", "cuEventDestroy", as: type(of: cuEventDestroy))
        cuEventRecord = try lib.symbol("cuEventRecord", as: type(of: cuEventRecord))
        cuEventSynchronize = try lib.symbol("cuEventSynchronize", as: type(of: cuEventSynchronize))
        cuEventElapsedTime = try lib.symbol("cuEventElapsedTime_v2", "cuEventElapsedTime", as: type(of: cuEventElapsedTime))
        cuModuleLoadData = try lib.symbol("cuModuleLoadData", as: type(of: cuModuleLoadData))
        cuModuleUnload = try lib.symbol("cuModuleUnload", as: type(of: cuModuleUnload))
        cuModuleGetFunction = try lib.symbol("cuModuleGetFunction", as: type(of: cuModuleGetFunction))
        cuLaunchKernel = try lib.symbol("cuLaunchKernel", as: type(of: cuLaunchKernel))
        cuGetErrorName = try lib.symbol("cuGetErrorName", as: type(of: cuGetErrorName))
        cuGetErrorString = try lib.symbol("cuGetErrorString", as: type(of: cuGetErrorString))
    }

    /// Throws the typed error for a failed call ("CUDA error 100 CUDA_ERROR_NO_DEVICE at cuInit").
    func check(_ result: Result, _ call: String) throws {
        guard result != 0 else { return }
        var namePtr: UnsafePointer<CChar>?
        var messagePtr: UnsafePointer<CChar>?
        _ = cuGetErrorName(result, &namePtr)
        _ = cuGetErrorString(result, &messagePtr)
        throw CUDAError.driver(code: result, name: namePtr.map { String(cString: $0) } ?? "CUDA_ERROR_UNKNOWN",
                               message: messagePtr.map { String(cString: $0) } ?? "unrecognised error code", call: call)
    }
}

/// The process-wide driver: libcuda.so.1 opened and cuInit called once.
public enum CUDADriver {
    private static let loaded: Swift.Result<DriverAPI, CUDAError> = {
        guard let lib = DynamicLibrary(path: "libcuda.so.1") else {
            return .failure(.driverNotFound("libcuda.so.1 not found (\(DynamicLibrary.lastError))"))
        }
        do {
            let api = try DriverAPI(lib)
            try api.check(api.cuInit(0), "cuInit")
            return .success(api)
        } catch let e as CUDAError {
            return .failure(e)
        } catch {
            return .failure(.driverNotFound("\(error)"))
        }
    }()

    static func api() throws -> DriverAPI { try loaded.get() }

    /// The driver's CUDA version as (major, minor), e.g. (12, 4).
    public static func version() throws -> (major: Int, minor: Int) {
        let api = try api()
        var v: Int32 = 0
        try api.check(api.cuDriverGetVersion(&v), "cuDriverGetVersion")
        return (Int(v) / 1000, Int(v) % 1000 / 10)
    }

    /// How many CUDA devices the driver sees (throws the "no GPU" error when it has none).
    public static func deviceCount() throws -> Int {
        let api = try api()
        var n: Int32 = 0
        try api.check(api.cuDeviceGetCount(&n), "cuDeviceGetCount")
        return Int(n)
    }
}
