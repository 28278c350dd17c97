/// Every failure of the GPU backend, as one line a user can act on.
public enum CUDAError: Error, CustomStringConvertible, Equatable {
    /// The driver library could not be loaded: there is no usable GPU on this machine.
    case driverNotFound(String)
    /// A driver entry point the backend needs is missing (driver too old).
    case missingSymbol(library: String, symbol: String)
    /// A driver call returned an error code.
    case driver(code: Int32, name: String, message: String, call: String)
    /// NVRTC could not be loaded from any of the searched places.
    case nvrtcNotFound(searched: [String])
    /// NVRTC returned an error code (the compile log, if any, is attached).
    case nvrtc(code: Int32, message: String, call: String, log: String)
    /// A request the backend cannot serve (bad size, unknown kernel, no device of that index).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .driverNotFound(let why):
            return "no GPU: \(why)"
        case .missingSymbol(let library, let symbol):
            return "no GPU: \(library) lacks \(symbol) (driver too old)"
        case .driver(let code, let name, let message, let call):
            return "CUDA error \(code) \(name) at \(call): \(message)"
        case .nvrtcNotFound(let searched):
            return "NVRTC not found (searched HOTMOE_NVRTC, \(searched.joined(separator: ", ")))"
        case .nvrtc(let code, let message, let call, let log):
            let tail = log.isEmpty ? "" : "\n\(log)"
            return "NVRTC error \(code) at \(call): \(message)\(tail)"
        case .invalidArgument(let why):
            return "CUDA: \(why)"
        }
    }
}
