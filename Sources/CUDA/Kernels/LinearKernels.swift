/// matvec (decode: one token) and matmul (prompt: several tokens) over a weight matrix in
/// GGUF layout: `rows` rows of `k` weights, `row_bytes` apart. One warp per output row;
/// matmul reuses each dequantized chunk for a tile of 8 tokens.
/// y[row] = W[row] . x;  Y[t * rows + row] = W[row] . X[t * k ...].
/// Launch: block (32, 4); matvec grid (ceil(rows / 4)); matmul grid (ceil(rows / 4), ceil(n / 8)).
enum LinearKernels {
    static let tokenTile = 8
    static let rowsPerBlock = 4

    static let body = #"""
    template <int T>
    HM_DEVICE void hm_matvec(const hm_u8 *__restrict__ w, long long row_bytes, const float *__restrict__ x,
                             float *__restrict__ y, int rows, int k) {
        const int row = blockIdx.x * blockDim.y + threadIdx.y;
        if (row >= rows) return;  // whole warps leave together (row depends on threadIdx.y only)
        const float s = hm_row_dot<T>(w + (long long)row * row_bytes, x, k);
        if (threadIdx.x == 0) y[row] = s;
    }

    template <int T>
    HM_DEVICE void hm_matmul(const hm_u8 *__restrict__ w, long long row_bytes, const float *__restrict__ x,
                             float *__restrict__ y, int rows, int k, int n) {
        const int row = blockIdx.x * blockDim.y + threadIdx.y;
        if (row >= rows) return;
        const int t0 = blockIdx.y * 8;
        const int nt = min(8, n - t0);
        const hm_u8 *r = w + (long long)row * row_bytes;
        float acc[8], v[32];
        #pragma unroll
        for (int t = 0; t < 8; ++t) acc[t] = 0.0f;
        for (int c = threadIdx.x; c < k / 32; c += 32) {
            hm_chunk<T>(r, c, v);
            #pragma unroll
            for (int t = 0; t < 8; ++t) {
                if (t < nt) {
                    const float *xc = x + (long long)(t0 + t) * k + 32 * c;
                    float s = 0.0f;
                    #pragma unroll
                    for (int i = 0; i < 32; ++i) s += v[i] * xc[i];
                    acc[t] += s;
                }
            }
        }
        #pragma unroll
        for (int t = 0; t < 8; ++t) {
            const float s = hm_warp_sum(acc[t]);
            if (threadIdx.x == 0 && t < nt) y[(long long)(t0 + t) * rows + row] = s;
        }
    }

    #define HM_LINEAR(NAME, T)                                                                            \
        extern "C" __global__ void matvec_##NAME(const hm_u8 *w, long long row_bytes, const float *x,    \
                                                 float *y, int rows, int k) {                           \
            hm_matvec<T>(w, row_bytes, x, y, rows, k);                                                   \
        }                                                                                                \
        extern "C" __global__ void matmul_##NAME(const hm_u8 *w, long long row_bytes, const float *x,    \
                                                 float *y, int rows, int k, int n) {                    \
            hm_matmul<T>(w, row_bytes, x, y, rows, k, n);                                                \
        }
    HM_LINEAR(f32, HM_F32)
    HM_LINEAR(f16, HM_F16)
    HM_LINEAR(q8_0, HM_Q8_0)
    HM_LINEAR(q4_K, HM_Q4_K)
    HM_LINEAR(q6_K, HM_Q6_K)
    """#
}
