import CKernels

/// Run-time CPU capabilities, probed once.
public enum CPU {
    /// AVX2 + FMA + F16C: everything the C kernels use. False on non-x86 builds.
    public static let avx2: Bool = hm_cpu_features() & 19 == 19
    /// AVX2 plus AVX-512F, VL and VNNI (dpbusd on 256-bit vectors).
    public static let avx512vnni: Bool = hm_cpu_features() & 63 == 63
}

/// How a weight matrix's bytes are arranged.
public enum WeightLayout: Sendable, Equatable {
    /// As in the GGUF file: row after row of the type's blocks.
    case ggml
    /// Repacked eight rows at a time for the AVX2 kernels (Q4_K: kquant_x86.c, 148 bytes per
    /// row and 256 columns; Q8_0: dot_x86.c; Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4: b32_rows8_x86.c;
    /// all but Q4_K the same size as the file). Row ranges handed to `matmul` must start and
    /// end on multiples of 8.
    case rows8
}

/// The compute entry points the engine calls. Every function is single-threaded and
/// allocation-free; callers split rows across their own threads.
public enum Kernels {
    /// A dense layer's product over a batch (ggml's mul_mat): as `matmul`, except that F32 and
    /// F16 weights follow ggml's summation order (ggml_float_ops.c): ggml_vec_dot, or the
    /// batched (llamafile tinyBLAS) order where ggml takes it: two or more tokens, cols % 16 == 0
    /// and the whole matrix's `matrixRows` % 4 == 0; and Q4_K its gemm order for the first
    /// tokens - tokens % 4 of a batch of 4+ (matrixRows % 8 == 0, which llama.cpp repacks) or
    /// its vec_dot order (any other row count, not repacked).
    public static func matmulDense(
        type: GGMLType, layout: WeightLayout = .ggml, weights: UnsafeRawPointer, rowBytes: Int, cols: Int, rows: Range<Int>,
        matrixRows: Int, activations: borrowing QuantizedActivations, tokens: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        if type == .f32 || type == .f16, layout == .ggml {
            checkShapes(type, cols, activations, tokens)
            if rows.isEmpty || tokens == 0 { return }
            let gemm = matrixRows % 4 == 0
            let kernel = type == .f32 ? (gemm ? hm_matmul_f32_ggml_gemm : hm_matmul_f32_ggml_vec)
                : (gemm ? hm_matmul_f16_ggml_gemm : hm_matmul_f16_ggml_vec)
            kernel(weights + rows.lowerBound * rowBytes, rowBytes, Int64(cols), Int64(rows.count),
                   activations.row(token: 0), activations.rowBytes, Int64(tokens), out, Int64(outStride))
            return
        }
        // A Q4_K matrix llama.cpp does not repack (rows % 8 != 0) runs its vec_dot order.
        if type == .q4_K, layout == .ggml, matrixRows % 8 != 0 {
            checkShapes(type, cols, activations, tokens)
            if rows.isEmpty || tokens == 0 { return }
            let kernel: CMatmul = CPU.avx2 ? hm_matmul_q4_K_q8_K_vec_dot : hm_matmul_q4_K_q8_K_vec_dot_portable
            kernel(weights + rows.lowerBound * rowBytes, rowBytes, Int64(cols), Int64(rows.count), activations.row(token: 0),
                   activations.rowBytes, Int64(tokens), out, Int64(outStride))
            return
        }
        // llama.cpp repacks every Q4_K matrix of rows % 8 == 0 on AVX2 and runs its gemm order
        // for the first tokens - tokens % 4 of a batch; in either layout hotmoe does the same.
        if type == .q4_K, tokens > 3, matrixRows % 8 == 0 {
            checkShapes(type, cols, activations, tokens)
            let batched = tokens - tokens % 4
            let gemm: CMatmul, gemv: CMatmul
            if layout == .rows8 {
                precondition(CPU.avx2 && rows.lowerBound % 8 == 0 && rows.count % 8 == 0, "rows8 needs AVX2 and 8-aligned rows")
                (gemm, gemv) = (hm_matmul_q4_K_x8_q8_K_gemm, hm_matmul_q4_K_x8_q8_K)
            } else {
                (gemm, gemv) = CPU.avx2 ? (hm_matmul_q4_K_q8_K_gemm, hm_matmul_q4_K_q8_K)
                    : (hm_matmul_q4_K_q8_K_gemm_portable, hm_matmul_q4_K_q8_K_portable)
            }
            if rows.isEmpty { return }
            let w = weights + rows.lowerBound * rowBytes
            gemm(w, rowBytes, Int64(cols), Int64(rows.count), activations.row(token: 0), activations.rowBytes,
                 Int64(batched), out, Int64(outStride))
            if batched < tokens {
                gemv(w, rowBytes, Int64(cols), Int64(rows.count), activations.row(token: batched), activations.rowBytes,
                     Int64(tokens - batched), out + batched * outStride, Int64(outStride))
            }
            return
        }
        matmul(type: type, layout: layout, weights: weights, rowBytes: rowBytes, cols: cols, rows: rows,
               activations: activations, tokens: tokens, out: out, outStride: outStride)
    }

    /// For each row r in `rows` of weight matrix `weights` (`rowBytes` apart, `cols` elements
    /// each) and each token t < `tokens`:
    /// `out[(r - rows.lowerBound) + t * outStride] = dot(weights[r], activations[t])`.
    /// Each weight row is read once for all tokens (rows outer, tokens inner).
    ///
    /// - Precondition: `activations.type == type.vecDotType`, `activations.count == cols`,
    ///   `tokens <= activations.tokens`, and `cols` is a whole number of `type`'s blocks.
    public static func matmul(
        type: GGMLType, layout: WeightLayout = .ggml, weights: UnsafeRawPointer, rowBytes: Int, cols: Int, rows: Range<Int>,
        activations: borrowing QuantizedActivations, tokens: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        if layout == .rows8 {
            checkShapes(type, cols, activations, tokens)
            precondition(CPU.avx2 && rows.lowerBound % 8 == 0 && rows.count % 8 == 0, "rows8 needs AVX2 and 8-aligned rows")
            if rows.isEmpty || tokens == 0 { return }
            guard let kernel = rows8Kernel(type) else { preconditionFailure("no rows8 kernel for \(type)") }
            kernel(weights + rows.lowerBound * rowBytes, rowBytes, Int64(cols), Int64(rows.count),
                   activations.row(token: 0), activations.rowBytes, Int64(tokens), out, Int64(outStride))
            return
        }
        if CPU.avx2, tokens >= tiledMinTokens(type), rows.count >= 8, let tiled = tiledKernel(type) {
            matmulTiled(tiled, type: type, weights: weights, rowBytes: rowBytes, cols: cols, rows: rows,
                        activations: activations, tokens: tokens, out: out, outStride: outStride)
            return
        }
        matmul(
            path: CPU.avx2 ? .simd : .portable, type: type, weights: weights, rowBytes: rowBytes, cols: cols,
            rows: rows, activations: activations, tokens: tokens, out: out, outStride: outStride)
    }

    /// A tiled kernel over the rows' multiple of 8, the per-dot SIMD kernel over the rest.
    static func matmulTiled(
        _ tiled: CMatmul, type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int, cols: Int, rows: Range<Int>,
        activations: borrowing QuantizedActivations, tokens: Int, out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        checkShapes(type, cols, activations, tokens)
        let aligned = rows.count - rows.count % 8
        if aligned > 0, tokens > 0 {
            tiled(weights + rows.lowerBound * rowBytes, rowBytes, Int64(cols), Int64(aligned), activations.row(token: 0),
                  activations.rowBytes, Int64(tokens), out, Int64(outStride))
        }
        if aligned < rows.count {
            let tail = rows.lowerBound + aligned..<rows.upperBound
            if let kind = tiledOrderKind(type), tokens >= tiledMinTokens(type) {
                // llama.cpp's tiled kernels cover ragged rows too: the scalar form of their order.
                hm_tiled_order_model(kind, weights + tail.lowerBound * rowBytes, rowBytes, Int64(cols), Int64(tail.count),
                                     activations.row(token: 0), activations.rowBytes, Int64(tokens), out + aligned,
                                     Int64(outStride))
            } else {
                matmul(path: .simd, type: type, weights: weights, rowBytes: rowBytes, cols: cols, rows: tail,
                       activations: activations, tokens: tokens, out: out + aligned, outStride: outStride)
            }
        }
    }

    /// The kind number of a 256-element type in kquant_tiled_x86.c (`HM_TILED_*`).
    static func tiledOrderKind(_ type: GGMLType) -> Int32? {
        let kind: Int
        switch type {
        case .q2_K: kind = HM_TILED_Q2_K
        case .q3_K: kind = HM_TILED_Q3_K
        case .q5_K: kind = HM_TILED_Q5_K
        case .q6_K: kind = HM_TILED_Q6_K
        case .iq4_xs: kind = HM_TILED_IQ4_XS
        case .iq2_xxs: kind = HM_TILED_IQ2_XXS
        case .iq2_xs: kind = HM_TILED_IQ2_XS
        case .iq2_s: kind = HM_TILED_IQ2_S
        case .iq3_xxs: kind = HM_TILED_IQ3_XXS
        case .iq3_s: kind = HM_TILED_IQ3_S
        case .iq1_s: kind = HM_TILED_IQ1_S
        case .iq1_m: kind = HM_TILED_IQ1_M
        default: return nil
        }
        return Int32(kind)
    }

    /// Batches from this many tokens take the tiled kernels, which decode eight weight rows once
    /// for the whole batch (kquant_tiled_x86.c; the 32-element types: b32_rows8_x86.c, the rows
    /// repacked into a strip); fewer tokens, and decode, take the per-dot ones. The 256-element
    /// types start at 8, where llama.cpp's tiled kernels start (`ggml_tiled_min_batch`): their
    /// float order is those kernels', and smaller batches keep vec_dot's, as in llama.cpp.
    static func tiledMinTokens(_ type: GGMLType) -> Int { type.blockSize == 256 ? 8 : 4 }

    /// The tiled prompt-batch kernel of `type`, where there is one (AVX2, or AVX-512 VNNI where
    /// the CPU has it and `vnni`).
    static func tiledKernel(_ type: GGMLType, vnni: Bool = CPU.avx512vnni) -> CMatmul? {
        if vnni {
            switch type {
            case .q2_K: return hm_matmul_q2_K_q8_K_tiled_vnni
            case .q3_K: return hm_matmul_q3_K_q8_K_tiled_vnni
            case .q5_K: return hm_matmul_q5_K_q8_K_tiled_vnni
            case .q6_K: return hm_matmul_q6_K_q8_K_tiled_vnni
            case .iq4_xs: return hm_matmul_iq4_xs_q8_K_tiled_vnni
            case .iq2_xxs: return hm_matmul_iq2_xxs_q8_K_tiled_vnni
            case .iq2_xs: return hm_matmul_iq2_xs_q8_K_tiled_vnni
            case .iq2_s: return hm_matmul_iq2_s_q8_K_tiled_vnni
            case .iq3_xxs: return hm_matmul_iq3_xxs_q8_K_tiled_vnni
            case .iq3_s: return hm_matmul_iq3_s_q8_K_tiled_vnni
            case .iq1_s: return hm_matmul_iq1_s_q8_K_tiled_vnni
            case .iq1_m: return hm_matmul_iq1_m_q8_K_tiled_vnni
            case .q4_1: return hm_matmul_q4_1_q8_1_tiled_vnni
            case .q5_0: return hm_matmul_q5_0_q8_0_tiled_vnni
            case .q5_1: return hm_matmul_q5_1_q8_1_tiled_vnni
            case .iq4_nl: return hm_matmul_iq4_nl_q8_0_tiled_vnni
            case .mxfp4: return hm_matmul_mxfp4_q8_0_tiled_vnni
            default: return nil
            }
        }
        switch type {
        case .q2_K: return hm_matmul_q2_K_q8_K_tiled
        case .q3_K: return hm_matmul_q3_K_q8_K_tiled
        case .q5_K: return hm_matmul_q5_K_q8_K_tiled
        case .q6_K: return hm_matmul_q6_K_q8_K_tiled
        case .iq4_xs: return hm_matmul_iq4_xs_q8_K_tiled
        case .iq2_xxs: return hm_matmul_iq2_xxs_q8_K_tiled
        case .iq2_xs: return hm_matmul_iq2_xs_q8_K_tiled
        case .iq2_s: return hm_matmul_iq2_s_q8_K_tiled
        case .iq3_xxs: return hm_matmul_iq3_xxs_q8_K_tiled
        case .iq3_s: return hm_matmul_iq3_s_q8_K_tiled
        case .iq1_s: return hm_matmul_iq1_s_q8_K_tiled
        case .iq1_m: return hm_matmul_iq1_m_q8_K_tiled
        case .q4_1: return hm_matmul_q4_1_q8_1_tiled
        case .q5_0: return hm_matmul_q5_0_q8_0_tiled
        case .q5_1: return hm_matmul_q5_1_q8_1_tiled
        case .iq4_nl: return hm_matmul_iq4_nl_q8_0_tiled
        case .mxfp4: return hm_matmul_mxfp4_q8_0_tiled
        default: return nil
        }
    }

    /// The kernel of a `.rows8` matrix of `type` (the 32-element types' in an AVX2 and an
    /// AVX-512 VNNI form, same bits: b32_rows8_x86.c).
    static func rows8Kernel(_ type: GGMLType, vnni: Bool = CPU.avx512vnni) -> CMatmul? {
        switch type {
        case .q4_K: return hm_matmul_q4_K_x8_q8_K
        case .q8_0: return hm_matmul_q8_0_x8_q8_0
        case .q4_1: return vnni ? hm_matmul_q4_1_x8_q8_1_vnni : hm_matmul_q4_1_x8_q8_1
        case .q5_0: return vnni ? hm_matmul_q5_0_x8_q8_0_vnni : hm_matmul_q5_0_x8_q8_0
        case .q5_1: return vnni ? hm_matmul_q5_1_x8_q8_1_vnni : hm_matmul_q5_1_x8_q8_1
        case .iq4_nl: return vnni ? hm_matmul_iq4_nl_x8_q8_0_vnni : hm_matmul_iq4_nl_x8_q8_0
        case .mxfp4: return vnni ? hm_matmul_mxfp4_x8_q8_0_vnni : hm_matmul_mxfp4_x8_q8_0
        default: return nil
        }
    }

    /// Whether `repackRows8` can repack a `rows x cols` matrix of `type` on this CPU.
    public static func canRepackRows8(type: GGMLType, rows: Int, cols: Int) -> Bool {
        guard CPU.avx2, rows % 8 == 0, rows > 0, rows8Kernel(type) != nil else { return false }
        return cols % type.blockSize == 0
    }

    /// Bytes per row of a matrix of `type` in the `.rows8` layout.
    public static func rows8RowBytes(type: GGMLType, cols: Int) -> Int {
        type == .q4_K ? cols / 256 * 148 : type.byteCount(elements: cols)!
    }

    /// Repacks a GGUF-layout matrix into `.rows8` at `destination`
    /// (rows * rows8RowBytes(type:cols:) bytes). Precondition: `canRepackRows8`.
    public static func repackRows8(type: GGMLType, source: UnsafeRawPointer, rowBytes: Int, rows: Int, cols: Int,
                                   into destination: UnsafeMutableRawPointer) {
        precondition(canRepackRows8(type: type, rows: rows, cols: cols))
        let repack: @convention(c) (UnsafeRawPointer?, Int, Int64, Int64, UnsafeMutableRawPointer?) -> Void
        switch type {
        case .q4_K: repack = hm_repack_q4_K_x8
        case .q8_0: repack = hm_repack_q8_0_x8
        case .q4_1: repack = hm_repack_q4_1_x8
        case .q5_0: repack = hm_repack_q5_0_x8
        case .q5_1: repack = hm_repack_q5_1_x8
        case .iq4_nl: repack = hm_repack_iq4_nl_x8
        default: repack = hm_repack_mxfp4_x8
        }
        repack(source, rowBytes, Int64(rows), Int64(cols), destination)
    }

    /// Which implementation computes a matmul. Public `matmul` takes `.simd` when the CPU has
    /// AVX2+FMA+F16C, else `.portable`; tests pin each path against `.reference`.
    enum Path { case simd, portable, reference }

    typealias CMatmul = @convention(c) (
        UnsafeRawPointer?, Int, Int64, Int64, UnsafeRawPointer?, Int, Int64, UnsafeMutablePointer<Float>?, Int64
    ) -> Void

    static func cKernel(_ type: GGMLType, simd: Bool) -> CMatmul? {
        switch type {
        case .q4_K: return simd ? hm_matmul_q4_K_q8_K : hm_matmul_q4_K_q8_K_portable
        case .q5_K: return simd ? hm_matmul_q5_K_q8_K : hm_matmul_q5_K_q8_K_portable
        case .q6_K: return simd ? hm_matmul_q6_K_q8_K : hm_matmul_q6_K_q8_K_portable
        case .q8_0: return simd ? hm_matmul_q8_0_q8_0 : hm_matmul_q8_0_q8_0_portable
        case .q4_0: return simd ? hm_matmul_q4_0_q8_0 : hm_matmul_q4_0_q8_0_portable
        case .q4_1: return simd ? hm_matmul_q4_1_q8_1 : hm_matmul_q4_1_q8_1_portable
        case .q5_0: return simd ? hm_matmul_q5_0_q8_0 : hm_matmul_q5_0_q8_0_portable
        case .q5_1: return simd ? hm_matmul_q5_1_q8_1 : hm_matmul_q5_1_q8_1_portable
        case .iq4_nl: return simd ? hm_matmul_iq4_nl_q8_0 : hm_matmul_iq4_nl_q8_0_portable
        case .mxfp4: return simd ? hm_matmul_mxfp4_q8_0 : hm_matmul_mxfp4_q8_0_portable
        case .q2_K: return simd ? hm_matmul_q2_K_q8_K : hm_matmul_q2_K_q8_K_portable
        case .q3_K: return simd ? hm_matmul_q3_K_q8_K : hm_matmul_q3_K_q8_K_portable
        case .iq4_xs: return simd ? hm_matmul_iq4_xs_q8_K : hm_matmul_iq4_xs_q8_K_portable
        case .iq2_xxs: return simd ? hm_matmul_iq2_xxs_q8_K : hm_matmul_iq2_xxs_q8_K_portable
        case .iq2_xs: return simd ? hm_matmul_iq2_xs_q8_K : hm_matmul_iq2_xs_q8_K_portable
        case .iq2_s: return simd ? hm_matmul_iq2_s_q8_K : hm_matmul_iq2_s_q8_K_portable
        case .iq3_xxs: return simd ? hm_matmul_iq3_xxs_q8_K : hm_matmul_iq3_xxs_q8_K_portable
        case .iq3_s: return simd ? hm_matmul_iq3_s_q8_K : hm_matmul_iq3_s_q8_K_portable
        case .iq1_s: return simd ? hm_matmul_iq1_s_q8_K : hm_matmul_iq1_s_q8_K_portable
        case .iq1_m: return simd ? hm_matmul_iq1_m_q8_K : hm_matmul_iq1_m_q8_K_portable
        case .f16: return simd ? hm_matmul_f16_f16 : hm_matmul_f16_f16_portable
        case .bf16: return simd ? hm_matmul_bf16_bf16 : hm_matmul_bf16_bf16_portable
        // F32 follows ggml's summation order exactly (ggml_float_ops.c), on every path.
        case .f32: return hm_matmul_f32_ggml_vec
        default: return nil
        }
    }

    static func matmul(
        path: Path, type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int, cols: Int, rows: Range<Int>,
        activations: borrowing QuantizedActivations, tokens: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        checkShapes(type, cols, activations, tokens)
        if rows.isEmpty || tokens == 0 { return }
        if path != .reference, let kernel = cKernel(type, simd: path == .simd) {
            precondition(path == .portable || CPU.avx2, "SIMD kernels need AVX2+FMA+F16C")
            kernel(
                weights + rows.lowerBound * rowBytes, rowBytes, Int64(cols), Int64(rows.count),
                activations.row(token: 0), activations.rowBytes, Int64(tokens), out, Int64(outStride))
            return
        }
        matmulReference(
            type: type, weights: weights, rowBytes: rowBytes, cols: cols, rows: rows,
            activations: activations, tokens: tokens, out: out, outStride: outStride)
    }

    /// Plain-Swift twin of `matmul`: the reference the tests hold both C paths to.
    static func matmulReference(
        type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int, cols: Int, rows: Range<Int>,
        activations: borrowing QuantizedActivations, tokens: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        checkShapes(type, cols, activations, tokens)
        for r in rows {
            let w = weights + r * rowBytes
            for t in 0..<tokens {
                out[(r - rows.lowerBound) + t * outStride] =
                    DotReference.dot(type, w, activations.row(token: t), cols)
            }
        }
    }

    @inline(__always)
    private static func checkShapes(_ type: GGMLType, _ cols: Int, _ act: borrowing QuantizedActivations, _ tokens: Int) {
        precondition(act.type == type.vecDotType, "\(act.type) activations do not pair with \(type) weights")
        precondition(act.count == cols, "activations have \(act.count) elements, rows have \(cols)")
        precondition(tokens >= 0 && tokens <= act.tokens, "only \(act.tokens) tokens quantised")
        precondition(cols % type.blockSize == 0, "\(type) rows must be whole blocks")
    }

    /// Converts `count` elements of one row of `type` to Float.
    /// Supported: every compute-supported type, Q8_0, Q8_1 and Q8_K.
    public static func dequantizeRow(type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        Dequantize.row(type, src, dst, count: count)
    }

    /// Encodes `count` floats as one row of `type` (ggml's reference quantisers, so llama.cpp
    /// reads the result identically). Writes `type.byteCount(elements: count)` bytes.
    /// Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, MXFP4, Q4_K, Q5_K, Q6_K, Q8_K
    /// (and Q8_1 as the activation format).
    public static func quantizeRow(type: GGMLType, _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int) {
        Quantize.row(type, src, dst, count: count)
    }

    /// True when the AVX2 kernels are in use on this machine.
    public static var usesSIMD: Bool { CPU.avx2 }
}
