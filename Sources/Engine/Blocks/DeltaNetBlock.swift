import CKernels
import Foundation

/// Buffers of the DeltaNet block for up to `tokens` tokens.
final class DeltaNetScratch {
    /// Projected q | k | v per token (the conv input), then conv output in place.
    let mixed: UnsafeMutablePointer<Float>
    /// Output gate z per token (valueDim).
    let z: UnsafeMutablePointer<Float>
    /// Per token and value head: beta (write strength) and g (log decay).
    let beta, decay: UnsafeMutablePointer<Float>
    /// Raw projection outputs for the fused layouts (ssm_in rows, ssm_ba rows).
    let fused: UnsafeMutablePointer<Float>
    /// Conv window: kernel-1 state rows followed by the batch's rows.
    let window: UnsafeMutablePointer<Float>
    /// Delta-rule output per token (valueDim), normalised and gated in place.
    let out: UnsafeMutablePointer<Float>

    init(config n: DeltaNetConfig, tokens: Int) {
        mixed = .allocate(capacity: tokens * n.convChannels)
        z = .allocate(capacity: tokens * n.valueDim)
        beta = .allocate(capacity: tokens * n.valueHeads)
        decay = .allocate(capacity: tokens * n.valueHeads)
        fused = .allocate(capacity: tokens * max(2 * n.keyDim + 2 * n.valueDim, 2 * n.valueHeads))
        window = .allocate(capacity: (tokens + n.convKernel - 1) * n.convChannels)
        out = .allocate(capacity: tokens * n.valueDim)
    }

    deinit { for p in [mixed, z, beta, decay, fused, window, out] { p.deallocate() } }
}

/// Gated DeltaNet block (Qwen3-Next / Qwen3.5 linear attention), as llama.cpp computes it:
/// projections -> causal depthwise conv1d over the rolling window -> silu -> L2-normalised q, k
/// -> gated delta rule per value head (state decays by exp(g), then moves toward v along k with
/// strength beta) -> RMSNorm(out) * silu(z) -> output projection. Input `xn`, output `tmp`.
extension InferenceSession {
    func deltaNetBlock(layer li: Int, weights w: DeltaNetWeights, tokens n: Int) {
        guard let s = deltaNet, let state = recurrent, let dn = c.deltaNet else { return }
        let d = c.embeddingLength
        acts.setInput(xn, cols: d, tokens: n)
        project(w, dn, s, tokens: n)
        for i in 0..<(n * dn.valueHeads) {
            s.beta[i] = Ops.sigmoid(s.beta[i])
            let h = i % dn.valueHeads
            s.decay[i] = Ops.softplus(s.decay[i] + w.dtBias[h]) * w.a[h]
        }
        DeltaNet.causalConv(s.mixed, tokens: n, channels: dn.convChannels, kernel: dn.convKernel, taps: w.conv,
                            state: state.conv(layer: li), window: s.window)
        for t in 0..<n { hm_ggml_silu_f32(s.mixed + t * dn.convChannels, s.mixed + t * dn.convChannels, Int64(dn.convChannels)) }
        for t in 0..<n {
            let row = s.mixed + t * dn.convChannels
            for h in 0..<(2 * dn.keyHeads) {  // q heads then k heads
                DeltaNet.l2Normalize(row + h * dn.stateSize, count: dn.stateSize, eps: c.normEpsilon)
            }
        }
        DeltaNet.recurrence(config: dn, mixed: s.mixed, beta: s.beta, decay: s.decay, tokens: n,
                            state: state.ssm(layer: li), out: s.out, pool: pool)
        for t in 0..<n {
            for h in 0..<dn.valueHeads {
                let o = s.out + t * dn.valueDim + h * dn.stateSize, g = s.z + t * dn.valueDim + h * dn.stateSize
                Ops.rmsNorm(o, w.norm, o, count: dn.stateSize, eps: c.normEpsilon)
                hm_ggml_silu_f32(g, g, Int64(dn.stateSize))
                for i in 0..<dn.stateSize { o[i] *= g[i] }
            }
        }
        acts.setInput(s.out, cols: dn.valueDim, tokens: n)
        Linear.apply(w.out, acts, tokens: n, out: tmp, pool: pool)
    }

    /// Fills mixed (q | k | v), z, beta and the raw alpha (in `decay`) from `xn`.
    private func project(_ w: DeltaNetWeights, _ dn: DeltaNetConfig, _ s: DeltaNetScratch, tokens n: Int) {
        switch w.inputLayout {
        case .separate:
            if let b = w.beta, let a = w.alpha {
                Linear.apply(w.qkv!, w.z!, b, acts, tokens: n, outs: s.mixed, s.z, s.beta, pool: pool)
                Linear.apply(a, acts, tokens: n, out: s.decay, pool: pool)
            } else {
                Linear.apply(w.qkv!, w.z!, w.betaAlpha!, acts, tokens: n, outs: s.mixed, s.z, s.fused, pool: pool)
                DeltaNet.splitBetaAlpha(s.fused, tokens: n, config: dn, beta: s.beta, alpha: s.decay)
            }
        case .groupedQKVZ:
            Linear.apply(w.qkv!, acts, tokens: n, out: s.fused, pool: pool)
            DeltaNet.splitGroupedQKVZ(s.fused, tokens: n, config: dn, mixed: s.mixed, z: s.z)
            Linear.apply(w.betaAlpha!, acts, tokens: n, out: s.fused, pool: pool)
            DeltaNet.splitBetaAlpha(s.fused, tokens: n, config: dn, beta: s.beta, alpha: s.decay)
        }
    }
}

/// The DeltaNet numerics, with ggml's float ops (CKernels' hm_ggml_*) so the bits follow
/// llama.cpp's; the tests hold them against float64 loops. The delta rule runs one value head
/// per task.
enum DeltaNet {
    /// x[t][c] <- sum_k window[t + k][c] * taps[c][k], where window is the layer's kernel-1 state
    /// rows followed by x's rows; the state then keeps the last kernel-1 rows.
    static func causalConv(_ x: UnsafeMutablePointer<Float>, tokens n: Int, channels ch: Int, kernel kk: Int,
                           taps: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>,
                           window: UnsafeMutablePointer<Float>) {
        let keep = kk - 1
        window.update(from: state, count: keep * ch)
        (window + keep * ch).update(from: x, count: n * ch)
        hm_ggml_conv_f32(window, Int64(ch), Int64(n), Int64(kk), taps, x)
        state.update(from: window + n * ch, count: keep * ch)
    }

    /// x / sqrt(sum x^2 + eps), computed as ggml's rms_norm(x, eps/n) * 1/sqrt(n).
    static func l2Normalize(_ x: UnsafeMutablePointer<Float>, count n: Int, eps: Float) {
        let fn = Float(n)
        let scale = Ops.rmsScale(x, count: n, eps: eps / fn)
        let post = 1 / fn.squareRoot()
        for i in 0..<n { x[i] = (x[i] * scale) * post }
    }

    /// Fused beta/alpha rows, grouped per key head as (ratio betas, ratio alphas).
    static func splitBetaAlpha(_ ba: UnsafePointer<Float>, tokens n: Int, config dn: DeltaNetConfig,
                               beta: UnsafeMutablePointer<Float>, alpha: UnsafeMutablePointer<Float>) {
        let hv = dn.valueHeads, r = hv / dn.keyHeads
        for t in 0..<n {
            for g in 0..<dn.keyHeads {
                for j in 0..<r {
                    beta[t * hv + g * r + j] = ba[t * 2 * hv + g * 2 * r + j]
                    alpha[t * hv + g * r + j] = ba[t * 2 * hv + g * 2 * r + r + j]
                }
            }
        }
    }

    /// Legacy `ssm_in` rows, grouped per key head as (q, k, ratio v heads, ratio z heads),
    /// into q | k | v and z.
    static func splitGroupedQKVZ(_ src: UnsafePointer<Float>, tokens n: Int, config dn: DeltaNetConfig,
                                 mixed: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>) {
        let hk = dn.stateSize, r = dn.valueHeads / dn.keyHeads, vGroup = r * dn.stateSize
        let group = 2 * hk + 2 * vGroup, rowIn = dn.keyHeads * group
        for t in 0..<n {
            let s = src + t * rowIn, m = mixed + t * dn.convChannels, zt = z + t * dn.valueDim
            for g in 0..<dn.keyHeads {
                let gs = s + g * group
                (m + g * hk).update(from: gs, count: hk)
                (m + dn.keyDim + g * hk).update(from: gs + hk, count: hk)
                (m + 2 * dn.keyDim + g * vGroup).update(from: gs + 2 * hk, count: vGroup)
                (zt + g * vGroup).update(from: gs + 2 * hk + vGroup, count: vGroup)
            }
        }
    }

    /// The gated delta rule over `tokens` tokens, one value head per task. State row j holds
    /// column j of S (S[i][j], i over keys): per token S *= exp(g); delta = (v - S^T k) * beta;
    /// S += k delta^T; out = S^T q / sqrt(stateSize).
    static func recurrence(config dn: DeltaNetConfig, mixed: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                           decay: UnsafePointer<Float>, tokens n: Int, state: UnsafeMutablePointer<Float>,
                           out: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        pool.run(dn.valueHeads, RecurrenceHeads(dn: dn, mixed: mixed, beta: beta, decay: decay, tokens: n,
                                                state: state, out: out))
    }

    struct RecurrenceHeads: ParallelBody {
        let dn: DeltaNetConfig
        let mixed, beta, decay: UnsafePointer<Float>
        let tokens: Int
        let state, out: UnsafeMutablePointer<Float>

        func run(_ h: Int) {
            let sv = dn.stateSize, kh = dn.keyHead(ofValueHead: h)
            let m = state + h * sv * sv
            let scale = 1 / Float(sv).squareRoot()
            withUnsafeTemporaryAllocation(of: Float.self, capacity: sv) { deltaBuffer in
                let delta = deltaBuffer.baseAddress!
                for t in 0..<tokens {
                    let row = mixed + t * dn.convChannels
                    let q = row + kh * sv, k = row + dn.keyDim + kh * sv, v = row + 2 * dn.keyDim + h * sv
                    let b = beta[t * dn.valueHeads + h]
                    let g = expf(decay[t * dn.valueHeads + h])
                    for i in 0..<(sv * sv) { m[i] *= g }
                    let n = Int64(sv)
                    for j in 0..<sv { delta[j] = (v[j] - hm_ggml_dot_f32(m + j * sv, k, n)) * b }
                    for j in 0..<sv { hm_ggml_mad_f32(m + j * sv, k, delta[j], n) }
                    let o = out + t * dn.valueDim + h * sv
                    for j in 0..<sv { o[j] = hm_ggml_dot_f32(m + j * sv, q, n) * scale }
                }
            }
        }
    }
}
