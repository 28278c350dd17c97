/// Decode attention for one token over an f32 KV cache in VRAM laid out
/// [kv_head][ctx_cap][head_dim]: softmax(q . k * scale) . v over the first n_ctx positions,
/// query head h reading KV head h / (heads / kv_heads) (GQA). `scores` is [heads][ctx_cap]
/// scratch. Launch: grid (heads), block (128).
enum AttentionKernels {
    static let blockThreads = 128

    static let body = #"""
    extern "C" __global__ void attention_decode_f32(const float *__restrict__ q, const float *__restrict__ kc,
                                                    const float *__restrict__ vc, float *__restrict__ out,
                                                    float *__restrict__ scores, int heads, int kv_heads, int head_dim,
                                                    int ctx_cap, int n_ctx, float scale) {
        __shared__ float scratch[32];
        const int h = blockIdx.x, kvh = h / (heads / kv_heads);
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
        const float *qh = q + (long long)h * head_dim;
        const float *kb = kc + (long long)kvh * ctx_cap * head_dim;
        const float *vb = vc + (long long)kvh * ctx_cap * head_dim;
        float *sc = scores + (long long)h * ctx_cap;
        for (int p = warp; p < n_ctx; p += warps) {
            float s = 0.0f;
            for (int i = lane; i < head_dim; i += 32) s += qh[i] * kb[(long long)p * head_dim + i];
            s = hm_warp_sum(s);
            if (lane == 0) sc[p] = s * scale;
        }
        __syncthreads();
        float m = HM_NEG_INF;
        for (int p = threadIdx.x; p < n_ctx; p += blockDim.x) m = fmaxf(m, sc[p]);
        m = hm_block_max(m, scratch);
        float sum = 0.0f;
        for (int p = threadIdx.x; p < n_ctx; p += blockDim.x) {
            const float e = expf(sc[p] - m);
            sc[p] = e;
            sum += e;
        }
        sum = hm_block_sum(sum, scratch);  // its barriers also publish the exponentials
        for (int i = threadIdx.x; i < head_dim; i += blockDim.x) {
            float a = 0.0f;
            for (int p = 0; p < n_ctx; ++p) a += sc[p] * vb[(long long)p * head_dim + i];
            out[(long long)h * head_dim + i] = a / sum;
        }
    }
    """#
}
