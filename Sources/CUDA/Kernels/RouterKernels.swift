/// Router of softmax-gated MoE models (ggml's build_moe_ffn): softmax over the expert logits,
/// top-k (ties and NaN to the lower id, as the CPU's TopK), optional renormalisation (sum
/// clamped at 6.103515625e-5 as ggml), then scale (0 or 1: none). One thread per token.
/// Launch: grid (ceil(tokens / 64)), block (64).
enum RouterKernels {
    static let maxExperts = 512
    static let maxK = 32

    static let body = #"""
    extern "C" __global__ void router_softmax_topk(const float *__restrict__ logits, int n_expert, int k, int normalize,
                                                   float scale, int *__restrict__ ids, float *__restrict__ weights,
                                                   int tokens) {
        const int t = blockIdx.x * blockDim.x + threadIdx.x;
        if (t >= tokens) return;
        const float *l = logits + (long long)t * n_expert;
        float m = HM_NEG_INF;
        for (int e = 0; e < n_expert; ++e) m = fmaxf(m, l[e]);
        float sum = 0.0f;
        for (int e = 0; e < n_expert; ++e) sum += expf(l[e] - m);
        int chosen[32];
        float total = 0.0f;
        for (int s = 0; s < k; ++s) {
            int best = -1;
            float bestValue = HM_NEG_INF;
            for (int e = 0; e < n_expert; ++e) {
                bool taken = false;
                for (int j = 0; j < s; ++j) taken |= chosen[j] == e;
                if (taken) continue;
                float p = expf(l[e] - m) / sum;
                if (p != p) p = HM_NEG_INF;
                if (best < 0 || p > bestValue) { best = e; bestValue = p; }
            }
            chosen[s] = best;
            const float w = expf(l[best] - m) / sum;
            ids[(long long)t * k + s] = best;
            weights[(long long)t * k + s] = w;
            total += w;
        }
        if (normalize) {
            const float d = fmaxf(total, 6.103515625e-5f);
            for (int s = 0; s < k; ++s) weights[(long long)t * k + s] /= d;
        }
        if (scale != 0.0f && scale != 1.0f)
            for (int s = 0; s < k; ++s) weights[(long long)t * k + s] *= scale;
    }
    """#
}
