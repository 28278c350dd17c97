@testable import CUDA
@testable import GPULane
import Testing

/// Launch arguments against the kernels' C parameter lists, parsed from the sources.
private let allSignatures: [String: [ParameterKind]?] = {
    var m: [String: [ParameterKind]?] = [:]
    for f in KernelFamily.allCases { m.merge(KernelSignatures.parse(f.source)) { a, _ in a } }
    return m
}()

@Test(arguments: KernelFamily.allCases)
func everyEntryPointHasAParsedSignature(family: KernelFamily) {
    let parsed = KernelSignatures.parse(family.source)
    #expect(Set(parsed.keys) == Set(family.entryPoints))
    for name in family.entryPoints { #expect((parsed[name] ?? nil) != nil, "\(name)") }
}

@Test func signaturesMatchTheCDeclarations() {
    #expect(allSignatures["matvec_q4_K"] == [.pointer, .int64, .pointer, .pointer, .int32, .int32])
    #expect(allSignatures["matmul_f16"] == [.pointer, .int64, .pointer, .pointer, .int32, .int32, .int32])
    #expect(allSignatures["rms_norm_f32"] == [.pointer, .pointer, .pointer, .int32, .float])
    #expect(allSignatures["swiglu_f32"] == [.pointer, .pointer, .pointer, .int64])
    #expect(allSignatures["router_softmax_topk"] == [.pointer, .int32, .int32, .int32, .float, .pointer, .pointer, .int32])
    #expect(KernelSignatures.kind(of: "unsigned short h") == nil)
}

@Test func mismatchedArgumentsAreRefusedByName() {
    #expect(throws: CUDAError.self) {
        try KernelSignatures.check(kernel: "rms_norm_f32", signature: [.pointer, .int32], arguments: [.pointer(0), .float(1)])
    }
    #expect(throws: Never.self) {
        try KernelSignatures.check(kernel: "k", signature: [.pointer, .int64], arguments: [.pointer(0), .int64(1)])
    }
}

@Test func hotLaneLaunchesMatchTheExpertKernels() throws {
    let layout = CUDAExpertLane.Layout(rows: 7, tokens: 3, d: 256, ff: 512)
    for (gateUp, down) in [(GPUWeightFormat.q4_K, GPUWeightFormat.q6_K), (.q8_0, .q8_0), (.f16, .f32)] {
        let launches = CUDAExpertLane.launches(layout: layout, scratch: 1 << 40, rows: 7, d: 256, ff: 512, gateUp: gateUp, down: down,
                                               gateRowBytes: 144, downRowBytes: 420)
        #expect(launches.map(\.0) == ["expert_gate_up_\(gateUp.rawValue)", "expert_down_\(down.rawValue)"])
        for (name, shape, arguments) in launches {
            let signature = try #require(allSignatures[name] ?? nil)
            try KernelSignatures.check(kernel: name, signature: signature, arguments: arguments)
            try shape.validate()
            #expect(shape.grid.y == 7 && shape.block.x == 32)
        }
    }
    // Scratch segments are 256-aligned and disjoint, in order.
    let offsets = [layout.input, layout.gate, layout.up, layout.down, layout.token, layout.weight, layout.hidden, layout.output, layout.total]
    #expect(offsets == offsets.sorted() && offsets.allSatisfy { $0 % 256 == 0 })
    #expect(layout.gate >= 3 * 256 * 4 && layout.up - layout.gate >= 7 * 8 && layout.total - layout.output >= 7 * 256 * 4)
    #expect(layout.output - layout.hidden >= 7 * 512 * 4)
}
