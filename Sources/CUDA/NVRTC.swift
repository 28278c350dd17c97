import Foundation

/// NVRTC (the CUDA runtime compiler), loaded with dlopen: kernels are CUDA C compiled to PTX at
/// run time for the device's compute capability, so no toolkit is needed at build time.
public final class NVRTC: @unchecked Sendable {
    typealias Result = Int32
    private let nvrtcVersion: @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Result
    private let nvrtcCreateProgram: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>,
                                                    Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Result
    private let nvrtcCompileProgram: @convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Result
    private let nvrtcGetPTXSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Result
    private let nvrtcGetPTX: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Result
    private let nvrtcGetCUBINSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Result
    private let nvrtcGetCUBIN: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Result
    private let nvrtcGetProgramLogSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Result
    private let nvrtcGetProgramLog: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Result
    private let nvrtcDestroyProgram: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Result
    private let nvrtcGetErrorString: @convention(c) (Result) -> UnsafePointer<CChar>?

    /// Where the library was found.
    public let path: String

    /// The places searched after HOTMOE_NVRTC, in order: sonames, then pip wheels'
    /// site-packages/nvidia/cuda_nvrtc/lib.
    static let sonames = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]

    /// The process-wide compiler, or the reason there is none.
    public static let shared: Swift.Result<NVRTC, CUDAError> = {
        do { return .success(try NVRTC(candidates: candidatePaths())) } catch let e as CUDAError { return .failure(e) } catch {
            return .failure(.nvrtcNotFound(searched: ["\(error)"]))
        }
    }()

    /// HOTMOE_NVRTC (a library file, or a folder holding libnvrtc.so*), the sonames, then wheels.
    static func candidatePaths(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        if let override = environment["HOTMOE_NVRTC"], !override.isEmpty {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: override, isDirectory: &isDir), isDir.boolValue {
                out += sonames.map { (override as NSString).appendingPathComponent($0) }
            } else {
                out.append(override)
            }
        }
        out += sonames
        // A CUDA toolkit that is installed but not in the loader's path.
        out += sonames.map { "/usr/local/cuda/lib64/\($0)" }.filter { fm.fileExists(atPath: $0) }
        var roots = ["/usr/lib", "/usr/local/lib", "/usr/lib64"]
        if let home = environment["HOME"] { roots.append(home + "/.local/lib") }
        if let venv = environment["VIRTUAL_ENV"] { roots.append(venv + "/lib") }
        for root in roots {
            for python in ((try? fm.contentsOfDirectory(atPath: root)) ?? []).filter({ $0.hasPrefix("python3") }).sorted() {
                for packages in ["site-packages", "dist-packages"] {
                    // CUDA 12 wheels: nvidia/cuda_nvrtc/lib; CUDA 13 wheels: nvidia/cu13/lib.
                    for lib in ["nvidia/cuda_nvrtc/lib", "nvidia/cu13/lib"].map({ "\(root)/\(python)/\(packages)/\($0)" }) {
                        out += sonames.map { "\(lib)/\($0)" }.filter { fm.fileExists(atPath: $0) }
                    }
                }
            }
        }
        return out
    }

    init(candidates: [String]) throws {
        var lib: DynamicLibrary?
        for c in candidates {
            if let l = DynamicLibrary(path: c) { lib = l; break }
        }
        guard let lib else { throw CUDAError.nvrtcNotFound(searched: NVRTC.sonames + ["pip site-packages/nvidia/cuda_nvrtc/lib"]) }
        path = lib.name
        NVRTC.preloadBuiltins(besides: lib.name)
        nvrtcVersion = try lib.symbol("nvrtcVersion", as: type(of: nvrtcVersion))
        nvrtcCreateProgram = try lib.symbol("nvrtcCreateProgram", as: type(of: nvrtcCreateProgram))
        nvrtcCompileProgram = try lib.symbol("nvrtcCompileProgram", as: type(of: nvrtcCompileProgram))
        nvrtcGetPTXSize = try lib.symbol("nvrtcGetPTXSize", as: type(of: nvrtcGetPTXSize))
        nvrtcGetPTX = try lib.symbol("nvrtcGetPTX", as: type(of: nvrtcGetPTX))
        nvrtcGetCUBINSize = try lib.symbol("nvrtcGetCUBINSize", as: type(of: nvrtcGetCUBINSize))
        nvrtcGetCUBIN = try lib.symbol("nvrtcGetCUBIN", as: type(of: nvrtcGetCUBIN))
        nvrtcGetProgramLogSize = try lib.symbol("nvrtcGetProgramLogSize", as: type(of: nvrtcGetProgramLogSize))
        nvrtcGetProgramLog = try lib.symbol("nvrtcGetProgramLog", as: type(of: nvrtcGetProgramLog))
        nvrtcDestroyProgram = try lib.symbol("nvrtcDestroyProgram", as: type(of: nvrtcDestroyProgram))
        nvrtcGetErrorString = try lib.symbol("nvrtcGetErrorString", as: type(of: nvrtcGetErrorString))
    }

    /// NVRTC dlopens libnvrtc-builtins by soname at compile time, which fails when the library
    /// was opened by path from a folder the loader does not search (a pip wheel): load the
    /// builtins beside it first, globally, so that dlopen finds them already loaded.
    static func preloadBuiltins(besides libraryPath: String) {
        for path in builtins(besides: libraryPath) { _ = DynamicLibrary(path: path, global: true) }
    }

    /// The builtins files beside a library opened by path (not the `.alt` variant).
    static func builtins(besides libraryPath: String) -> [String] {
        guard libraryPath.contains("/") else { return [] }
        let folder = (libraryPath as NSString).deletingLastPathComponent
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix("libnvrtc-builtins.so") }.sorted().map { folder + "/" + $0 }
    }

    public func version() -> (major: Int, minor: Int) {
        var major: Int32 = 0, minor: Int32 = 0
        _ = nvrtcVersion(&major, &minor)
        return (Int(major), Int(minor))
    }

    private func check(_ r: Result, _ call: String, log: String = "") throws {
        guard r != 0 else { return }
        let message = nvrtcGetErrorString(r).map { String(cString: $0) } ?? "unknown NVRTC error"
        throw CUDAError.nvrtc(code: r, message: message, call: call, log: log)
    }

    /// What to compile to.
    public enum Output: Sendable {
        /// PTX for the virtual architecture compute_XY (the driver JIT-compiles it; needs a
        /// driver that knows this NVRTC's PTX version).
        case ptx
        /// A CUBIN (SASS) for the real architecture sm_XY: loads on any driver of the same CUDA
        /// major version (minor-version compatibility does not cover PTX JIT).
        case cubin
    }

    /// PTX text for `source` targeting compute capability `major.minor`.
    public func compile(source: String, name: String, computeCapability: (major: Int, minor: Int)) throws -> String {
        let bytes = try compile(source: source, name: name, computeCapability: computeCapability, output: .ptx)
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The compiled image (PTX text with its NUL, or CUBIN bytes), ready for cuModuleLoadData.
    public func compile(source: String, name: String, computeCapability cc: (major: Int, minor: Int), output: Output) throws -> [UInt8] {
        var program: OpaquePointer?
        try check(nvrtcCreateProgram(&program, source, name, 0, nil, nil), "nvrtcCreateProgram(\(name))")
        defer { _ = nvrtcDestroyProgram(&program) }
        let arch = (output == .ptx ? "compute_" : "sm_") + "\(cc.major)\(cc.minor)"
        let options = ["--gpu-architecture=\(arch)", "--std=c++17", "-default-device"]
        let cOptions = options.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        let result = cOptions.map { UnsafePointer($0) }.withUnsafeBufferPointer { buf in
            nvrtcCompileProgram(program, Int32(buf.count), buf.baseAddress)
        }
        if result != 0 {
            try check(result, "nvrtcCompileProgram(\(name), \(arch))", log: programLog(program))
        }
        var size = 0
        var image: [CChar]
        switch output {
        case .ptx:
            try check(nvrtcGetPTXSize(program, &size), "nvrtcGetPTXSize")
            image = [CChar](repeating: 0, count: max(1, size))
            try check(nvrtcGetPTX(program, &image), "nvrtcGetPTX")
        case .cubin:
            try check(nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize")
            image = [CChar](repeating: 0, count: max(1, size))
            try check(nvrtcGetCUBIN(program, &image), "nvrtcGetCUBIN")
        }
        return image.map { UInt8(bitPattern: $0) }
    }

    private func programLog(_ program: OpaquePointer?) -> String {
        var size = 0
        guard nvrtcGetProgramLogSize(program, &size) == 0, size > 1 else { return "" }
        var log = [CChar](repeating: 0, count: size)
        guard nvrtcGetProgramLog(program, &log) == 0 else { return "" }
        return log.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
