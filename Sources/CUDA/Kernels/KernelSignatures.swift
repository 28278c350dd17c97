/// The C type class of one kernel parameter, as cuLaunchKernel reads its value.
public enum ParameterKind: Equatable, Sendable, CustomStringConvertible {
    case pointer, int32, int64, float
    public var description: String { ["pointer", "int", "long long", "float"][[.pointer, .int32, .int64, .float].firstIndex(of: self)!] }
}

/// Kernel parameter lists parsed from the CUDA C source, so every launch is checked against
/// the kernel it calls (a wrong count or kind is a clear error, not a device fault).
public enum KernelSignatures {
    /// entry point -> parameter kinds for each `extern "C" __global__ void NAME(...)` in
    /// `source`; names built with `##NAME` in a macro are expanded for every weight format.
    /// A parameter of a type outside the four kinds maps to nil for that entry.
    public static func parse(_ source: String) -> [String: [ParameterKind]?] {
        let text = source.replacingOccurrences(of: "\\\n", with: " ")
        var out: [String: [ParameterKind]?] = [:]
        let marker = "extern \"C\" __global__ void "
        var rest = text[...]
        while let r = rest.range(of: marker) {
            let afterName = rest[r.upperBound...]
            guard let open = afterName.firstIndex(of: "("), let close = afterName[open...].firstIndex(of: ")") else { break }
            let name = afterName[..<open].trimmingCharacters(in: .whitespaces)
            let kinds = afterName[afterName.index(after: open)..<close].split(separator: ",").map { kind(of: String($0)) }
            let parsed: [ParameterKind]? = kinds.contains(where: { $0 == nil }) ? nil : kinds.map { $0! }
            if name.hasSuffix("##NAME") {
                let stem = name.dropLast("##NAME".count)
                for f in GPUWeightFormat.allCases { out["\(stem)\(f.rawValue)"] = parsed }
            } else {
                out[name] = parsed
            }
            rest = afterName[close...]
        }
        return out
    }

    static func kind(of parameter: String) -> ParameterKind? {
        let p = parameter.trimmingCharacters(in: .whitespacesAndNewlines)
        if p.contains("*") { return .pointer }
        if p.hasPrefix("long long ") { return .int64 }
        if p.hasPrefix("int ") { return .int32 }
        if p.hasPrefix("float ") { return .float }
        return nil
    }

    /// Throws unless `arguments` match `signature` one for one.
    public static func check(kernel name: String, signature: [ParameterKind], arguments: [KernelArgument]) throws {
        let given = arguments.map(\.kind)
        guard given == signature else {
            throw CUDAError.invalidArgument("kernel \(name) takes (\(signature.map(\.description).joined(separator: ", "))) but was given (\(given.map(\.description).joined(separator: ", ")))")
        }
    }
}

extension KernelArgument {
    public var kind: ParameterKind {
        switch self {
        case .pointer: .pointer
        case .int32: .int32
        case .int64: .int64
        case .float: .float
        }
    }
}
