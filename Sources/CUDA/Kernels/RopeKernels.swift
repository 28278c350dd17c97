/// RoPE in place on x[token][head][head_dim], the first rope_dim dims of each head rotated by
/// positions[token] * base^(-2i / rope_dim): pairs (2i, 2i+1) ("norm", llama) or
/// (i, i + rope_dim/2) (NeoX, qwen3moe). Launch: grid (tokens, heads), block (min(128, rope_dim/2)).
enum RopeKernels {
    static let body = #"""
    template <bool NEOX>
    HM_DEVICE void hm_rope(float *x, const int *positions, int heads, int head_dim, int rope_dim, float base) {
        const int token = blockIdx.x, head = blockIdx.y, half = rope_dim / 2;
        float *v = x + ((long long)token * heads + head) * head_dim;
        const float p = (float)positions[token];
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            const float theta = p * powf(base, -2.0f * (float)i / (float)rope_dim);
            float s, c;
            sincosf(theta, &s, &c);
            const int a = NEOX ? i : 2 * i, b = NEOX ? i + half : 2 * i + 1;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
    extern "C" __global__ void rope_norm_f32(float *x, const int *positions, int heads, int head_dim, int rope_dim, float base) {
        hm_rope<false>(x, positions, heads, head_dim, rope_dim, base);
    }
    extern "C" __global__ void rope_neox_f32(float *x, const int *positions, int heads, int head_dim, int rope_dim, float base) {
        hm_rope<true>(x, positions, heads, head_dim, rope_dim, base);
    }
    """#
}
