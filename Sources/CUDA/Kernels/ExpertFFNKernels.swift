/// The hot lane's per-expert FFN step over a list of work items (one per routed slot whose
/// expert is in VRAM): item i computes, for token token[i] of x [tokens][d],
///   h[i] = silu(gate_i . x) * (up_i . x)     (expert_gate_up_*, ff rows)
///   out[i] = weight[i] * (down_i . h[i])     (expert_down_*, d rows)
/// with each expert's matrices at the device addresses gate[i], up[i], down[i], in GGUF layout.
/// out is [items][d]; the host adds the slots in slot order, as the CPU lane does.
/// Launch: block (32, 4); gate_up grid (ceil(ff / 4), items), down grid (ceil(d / 4), items).
enum ExpertFFNKernels {
    static let body = #"""
    template <int T>
    HM_DEVICE void hm_expert_gate_up(const unsigned long long *gate, const unsigned long long *up, long long row_bytes,
                                     const int *token, const float *x, float *h, int d, int ff) {
        const int item = blockIdx.y, row = blockIdx.x * blockDim.y + threadIdx.y;
        if (row >= ff) return;
        const float *xt = x + (long long)token[item] * d;
        const float g = hm_row_dot<T>((const hm_u8 *)gate[item] + (long long)row * row_bytes, xt, d);
        const float u = hm_row_dot<T>((const hm_u8 *)up[item] + (long long)row * row_bytes, xt, d);
        if (threadIdx.x == 0) h[(long long)item * ff + row] = hm_silu(g) * u;
    }

    template <int T>
    HM_DEVICE void hm_expert_down(const unsigned long long *down, long long row_bytes, const float *weight,
                                  const float *h, float *out, int d, int ff) {
        const int item = blockIdx.y, row = blockIdx.x * blockDim.y + threadIdx.y;
        if (row >= d) return;
        const float s = hm_row_dot<T>((const hm_u8 *)down[item] + (long long)row * row_bytes, h + (long long)item * ff, ff);
        if (threadIdx.x == 0) out[(long long)item * d + row] = weight[item] * s;
    }

    #define HM_EXPERT(NAME, T)                                                                                  \
        extern "C" __global__ void expert_gate_up_##NAME(const unsigned long long *gate, const unsigned long long *up, \
                                                         long long row_bytes, const int *token, const float *x,      \
                                                         float *h, int d, int ff) {                                 \
            hm_expert_gate_up<T>(gate, up, row_bytes, token, x, h, d, ff);                                          \
        }                                                                                                           \
        extern "C" __global__ void expert_down_##NAME(const unsigned long long *down, long long row_bytes,          \
                                                      const float *weight, const float *h, float *out, int d, int ff) { \
            hm_expert_down<T>(down, row_bytes, weight, h, out, d, ff);                                              \
        }
    HM_EXPERT(f32, HM_F32)
    HM_EXPERT(f16, HM_F16)
    HM_EXPERT(q8_0, HM_Q8_0)
    HM_EXPERT(q4_K, HM_Q4_K)
    HM_EXPERT(q6_K, HM_Q6_K)
    """#
}
