@testable import CUDA
import Foundation
import Testing

/// NVRTC from PyPI's nvidia-cuda-nvrtc-cu12 wheel (.ci/run installs it and sets HOTMOE_NVRTC);
/// skipped with a message where it is absent.
private let compiler: NVRTC? = {
    switch NVRTC.shared {
    case .success(let c): return c
    case .failure(let e):
        print("skipping NVRTC compile tests: \(e) (install nvidia-cuda-nvrtc-cu12 and set HOTMOE_NVRTC)")
        return nil
    }
}()

/// The `.entry NAME(` lines of a PTX module.
private func entryPoints(_ ptx: String) -> Set<String> {
    var names = Set<String>()
    for line in ptx.split(separator: "\n") {
        guard let r = line.range(of: ".entry ") else { continue }
        let name = line[r.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        names.insert(String(name))
    }
    return names
}

@Test(.enabled(if: compiler != nil, "libnvrtc not found: set HOTMOE_NVRTC"),
      arguments: KernelFamily.allCases, [80, 90])
func kernelFamilyCompilesToPTXWithItsEntryPoints(family: KernelFamily, sm: Int) throws {
    let ptx = try #require(compiler).compile(source: family.source, name: family.fileName, computeCapability: (sm / 10, sm % 10))
    #expect(ptx.contains(".target sm_\(sm)"))
    #expect(entryPoints(ptx) == Set(family.entryPoints))
}

@Test(.enabled(if: compiler != nil, "libnvrtc not found: set HOTMOE_NVRTC"))
func brokenSourceGivesTheCompileLog() throws {
    let c = try #require(compiler)
    let bad = KernelPrelude.source + "\nextern \"C\" __global__ void broken(float *x) { x[0] = undefined_name; }\n"
    do {
        _ = try c.compile(source: bad, name: "broken.cu", computeCapability: (9, 0))
        Issue.record("a source with an undefined name compiled")
    } catch let e as CUDAError {
        guard case .nvrtc(_, _, let call, let log) = e else { Issue.record("unexpected error \(e)"); return }
        #expect(call.hasPrefix("nvrtcCompileProgram(broken.cu"))
        #expect(log.contains("undefined_name"))
    }
}

@Test func nvrtcSearchStartsWithTheOverrideThenSonames() {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nvrtc-search-\(getpid())").path
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let fromDir = NVRTC.candidatePaths(environment: ["HOTMOE_NVRTC": dir])
    #expect(Array(fromDir.prefix(3)) == NVRTC.sonames.map { "\(dir)/\($0)" })
    #expect(Array(fromDir.dropFirst(3).prefix(3)) == NVRTC.sonames)
    let fromFile = NVRTC.candidatePaths(environment: ["HOTMOE_NVRTC": "/opt/x/libnvrtc.so.12"])
    #expect(fromFile.first == "/opt/x/libnvrtc.so.12")
    #expect(Array(NVRTC.candidatePaths(environment: [:]).prefix(3)) == NVRTC.sonames)
}

/// CUDA 13's wheels put libnvrtc in nvidia/cu13/lib (CUDA 12's: nvidia/cuda_nvrtc/lib); both
/// are found under a virtual environment. Seen on the device machine: NVRTC opened by path from
/// a wheel cannot dlopen its builtins by soname, so they are loaded first from beside it.
@Test func nvrtcSearchFindsCUDA13WheelsInAVirtualEnvironment() throws {
    let venv = FileManager.default.temporaryDirectory.appendingPathComponent("nvrtc-venv-\(getpid())").path
    let lib = venv + "/lib/python3.12/site-packages/nvidia/cu13/lib"
    try FileManager.default.createDirectory(atPath: lib, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: venv) }
    #expect(FileManager.default.createFile(atPath: lib + "/libnvrtc.so.13", contents: Data()))
    #expect(NVRTC.candidatePaths(environment: ["VIRTUAL_ENV": venv]).contains(lib + "/libnvrtc.so.13"))
}

@Test func nvrtcBuiltinsBesideTheLibraryAreTheOnesPreloaded() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nvrtc-builtins-\(getpid())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for name in ["libnvrtc.so.13", "libnvrtc.alt.so.13", "libnvrtc-builtins.so.13.0", "libnvrtc-builtins.alt.so.13.0", "libcuda.so.1"] {
        #expect(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data()))
    }
    #expect(NVRTC.builtins(besides: dir + "/libnvrtc.so.13") == [dir + "/libnvrtc-builtins.so.13.0"])
    #expect(NVRTC.builtins(besides: "libnvrtc.so.13").isEmpty, "a soname was found by the loader, which finds its builtins too")
}

@Test func missingLibraryIsOneCleanError() throws {
    do {
        _ = try NVRTC(candidates: ["/nonexistent/libnvrtc.so.12"])
        Issue.record("loaded a library that does not exist")
    } catch let e as CUDAError {
        #expect(e.description.hasPrefix("NVRTC not found"))
        #expect(!e.description.contains("\n"))
    }
}

@Test func noDriverIsOneCleanNoGPULine() throws {
    // Only meaningful where libcuda.so.1 is absent (this CI); on a GPU machine the device opens.
    guard (try? CUDADriver.deviceCount()) == nil else { return }
    do {
        _ = try Context(ordinal: 0)
        Issue.record("a context opened without a driver")
    } catch let e as CUDAError {
        #expect(e.description.hasPrefix("no GPU: ") || e.description.hasPrefix("CUDA error 100 CUDA_ERROR_NO_DEVICE at cuInit"))
        #expect(!e.description.contains("\n"))
    }
}

@Test func driverErrorsNameTheCodeAndTheCall() {
    let e = CUDAError.driver(code: 100, name: "CUDA_ERROR_NO_DEVICE", message: "no CUDA-capable device is detected", call: "cuInit")
    #expect(e.description == "CUDA error 100 CUDA_ERROR_NO_DEVICE at cuInit: no CUDA-capable device is detected")
}

@Test func launchShapesOutsideTheLimitsAreRefused() {
    #expect(throws: CUDAError.self) { try LaunchShape(grid: (0, 1, 1), block: (32, 1, 1)).validate() }
    #expect(throws: CUDAError.self) { try LaunchShape(grid: (1, 70000, 1), block: (32, 1, 1)).validate() }
    #expect(throws: CUDAError.self) { try LaunchShape(grid: (1, 1, 1), block: (64, 32, 1)).validate() }
    #expect(throws: Never.self) { try LaunchShape(grid: (100, 1, 1), block: (32, 4, 1)).validate() }
}

@Test(.enabled(if: compiler != nil, "libnvrtc not found: set HOTMOE_NVRTC"), arguments: [80, 90])
func kernelFamiliesCompileToCUBINs(sm: Int) throws {
    let c = try #require(compiler)
    for family in KernelFamily.allCases {
        let cubin = try c.compile(source: family.source, name: family.fileName, computeCapability: (sm / 10, sm % 10), output: .cubin)
        #expect(Array(cubin.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46], "\(family) is not an ELF image")
        for name in family.entryPoints {
            #expect(cubin.withUnsafeBufferPointer { contains($0, Array(name.utf8)) }, "\(family): no symbol \(name)")
        }
    }
}

private func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
    guard needle.count <= haystack.count else { return false }
    for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
        if Array(haystack[i..<(i + needle.count)]) == needle { return true }
    }
    return false
}
