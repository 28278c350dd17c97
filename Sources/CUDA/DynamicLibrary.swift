#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A shared library opened at run time, so the binary has no link-time GPU dependency.
final class DynamicLibrary: @unchecked Sendable {
    let name: String
    private let handle: UnsafeMutableRawPointer

    /// nil when the library cannot be opened; `lastError` then says why.
    /// `global`: its symbols serve later dlopens (NVRTC's builtins).
    init?(path: String, global: Bool = false) {
        guard let h = dlopen(path, RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL)) else { return nil }
        name = path
        handle = h
    }

    /// dlerror's text for the last failed dlopen/dlsym on this thread.
    static var lastError: String {
        guard let e = dlerror() else { return "unknown dlopen error" }
        return String(cString: e)
    }

    /// The first of `names` the library exports (versioned names first), cast to `type`.
    func symbol<T>(_ names: String..., as type: T.Type) throws -> T {
        for n in names {
            if let p = dlsym(handle, n) { return unsafeBitCast(p, to: type) }
        }
        throw CUDAError.missingSymbol(library: name, symbol: names[0])
    }

    // Libraries stay loaded for the process lifetime: unloading a driver with live
    // contexts is unsafe, and the backend keeps one table per process.
}
