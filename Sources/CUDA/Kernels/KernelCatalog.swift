/// The weight formats the GPU kernels read, named as the kernels' suffixes.
public enum GPUWeightFormat: String, CaseIterable, Sendable {
    case f32, f16, q8_0, q4_K, q6_K

    /// The GGML type number (GGMLType's raw value).
    public var ggmlType: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q8_0: 8
        case .q4_K: 12
        case .q6_K: 14
        }
    }

    public init?(ggmlType: UInt32) {
        guard let f = GPUWeightFormat.allCases.first(where: { $0.ggmlType == ggmlType }) else { return nil }
        self = f
    }

    /// Elements a row length must be a multiple of (chunks of 32; K-quant super-blocks of 256).
    public var rowMultiple: Int { self == .q4_K || self == .q6_K ? 256 : 32 }
}

/// One kernel source file: the shared prelude plus a family's body, and the entry points it
/// must define (extern "C", so the PTX names are the C names).
public enum KernelFamily: String, CaseIterable, Sendable {
    case linear, norm, rope, activation, router, attention, expertFFN

    public var source: String { KernelPrelude.source + "\n" + body }

    private var body: String {
        switch self {
        case .linear: LinearKernels.body
        case .norm: NormKernels.body
        case .rope: RopeKernels.body
        case .activation: ActivationKernels.body
        case .router: RouterKernels.body
        case .attention: AttentionKernels.body
        case .expertFFN: ExpertFFNKernels.body
        }
    }

    public var entryPoints: [String] {
        let formats = GPUWeightFormat.allCases.map(\.rawValue)
        switch self {
        case .linear: return formats.flatMap { ["matvec_\($0)", "matmul_\($0)"] }
        case .norm: return ["rms_norm_f32"]
        case .rope: return ["rope_norm_f32", "rope_neox_f32"]
        case .activation: return ["swiglu_f32"]
        case .router: return ["router_softmax_topk"]
        case .attention: return ["attention_decode_f32"]
        case .expertFFN: return formats.flatMap { ["expert_gate_up_\($0)", "expert_down_\($0)"] }
        }
    }

    /// The file name NVRTC reports in diagnostics.
    public var fileName: String { "hotmoe_\(rawValue).cu" }
}

/// Every kernel family compiled for one device and loaded, kernels looked up by name.
public final class KernelLibrary: @unchecked Sendable {
    public let context: Context
    private var kernels: [String: Kernel] = [:]

    public init(context: Context, compiler: NVRTC) throws {
        self.context = context
        let cc = context.info.computeCapability
        for family in KernelFamily.allCases {
            // SASS for the device first (no driver JIT, works on older drivers of the same
            // major version); PTX when the device's architecture is newer than this NVRTC.
            let module: Module
            do {
                module = try Module(context: context, image: compiler.compile(source: family.source, name: family.fileName,
                                                                             computeCapability: cc, output: .cubin))
            } catch {
                module = try Module(context: context, image: compiler.compile(source: family.source, name: family.fileName,
                                                                             computeCapability: cc, output: .ptx))
            }
            let signatures = KernelSignatures.parse(family.source)
            for name in family.entryPoints {
                guard let signature = signatures[name] ?? nil else {
                    throw CUDAError.invalidArgument("kernel \(name): no parsable signature in \(family.fileName)")
                }
                kernels[name] = try module.kernel(name, signature: signature)
            }
        }
    }

    public func kernel(_ name: String) throws -> Kernel {
        guard let k = kernels[name] else { throw CUDAError.invalidArgument("no kernel named \(name)") }
        return k
    }
}
