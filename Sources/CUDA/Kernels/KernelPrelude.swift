/// Device helpers shared by every kernel family: no #include (NVRTC has no CUDA headers
/// here), halves converted with PTX's cvt, quantized bytes read one at a time so block
/// structs at any byte offset (as GGUF packs them) are safe.
enum KernelPrelude {
    static let source = #"""
    #define HM_DEVICE __device__ __forceinline__
    typedef unsigned char hm_u8;
    #define HM_NEG_INF __int_as_float(0xff800000)

    HM_DEVICE float hm_half(unsigned short h) {
        float f;
        asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
        return f;
    }
    HM_DEVICE unsigned short hm_u16(const hm_u8 *p) { return (unsigned short)(p[0] | (p[1] << 8)); }

    HM_DEVICE float hm_warp_sum(float v) {
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        return v;
    }
    HM_DEVICE float hm_warp_max(float v) {
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
        return v;
    }
    // Block-wide sum/max for blockDim.x a multiple of 32 (<= 1024); `scratch` holds 32 floats.
    // Every thread of the block must call it; all get the result.
    HM_DEVICE float hm_block_sum(float v, float *scratch) {
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
        v = hm_warp_sum(v);
        __syncthreads();
        if (lane == 0) scratch[warp] = v;
        __syncthreads();
        float r = lane < warps ? scratch[lane] : 0.0f;
        return hm_warp_sum(r);
    }
    HM_DEVICE float hm_block_max(float v, float *scratch) {
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
        v = hm_warp_max(v);
        __syncthreads();
        if (lane == 0) scratch[warp] = v;
        __syncthreads();
        float r = lane < warps ? scratch[lane] : HM_NEG_INF;
        return hm_warp_max(r);
    }
    HM_DEVICE float hm_silu(float x) { return x / (1.0f + expf(-x)); }

    // Weight formats by their GGML type numbers.
    enum { HM_F32 = 0, HM_F16 = 1, HM_Q8_0 = 8, HM_Q4_K = 12, HM_Q6_K = 14 };

    // The 32 weights of chunk c of a row in GGUF's layout: a Q8_0 block, or sub-block c % 8
    // of K-quant super-block c / 8 (ggml-common.h's block_q4_K / block_q6_K), dequantized with
    // ggml's arithmetic (dequantize_row_*). F32 rows must be 4-byte, F16 rows 2-byte aligned.
    template <int T> HM_DEVICE void hm_chunk(const hm_u8 *__restrict__ row, int c, float v[32]) {
        if constexpr (T == HM_F32) {
            const float *p = (const float *)row + 32 * c;
            #pragma unroll
            for (int i = 0; i < 32; ++i) v[i] = p[i];
        } else if constexpr (T == HM_F16) {
            const unsigned short *p = (const unsigned short *)row + 32 * c;
            #pragma unroll
            for (int i = 0; i < 32; ++i) v[i] = hm_half(p[i]);
        } else if constexpr (T == HM_Q8_0) {
            const hm_u8 *b = row + 34 * c;
            const float d = hm_half(hm_u16(b));
            #pragma unroll
            for (int i = 0; i < 32; ++i) v[i] = d * (float)(signed char)b[2 + i];
        } else if constexpr (T == HM_Q4_K) {
            // d, dmin (fp16), 12 bytes of packed 6-bit (scale, min), 128 bytes of nibbles.
            const hm_u8 *b = row + 144 * (c >> 3);
            const int j = c & 7;
            const float d = hm_half(hm_u16(b)), dmin = hm_half(hm_u16(b + 2));
            const hm_u8 *q = b + 4;
            int sc, m;
            if (j < 4) {
                sc = q[j] & 63;
                m = q[j + 4] & 63;
            } else {
                sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
                m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
            }
            const float ds = d * (float)sc, mn = dmin * (float)m;
            const hm_u8 *qs = b + 16 + 32 * (j >> 1);
            const int shift = 4 * (j & 1);
            #pragma unroll
            for (int l = 0; l < 32; ++l) v[l] = ds * (float)((qs[l] >> shift) & 0xF) - mn;
        } else if constexpr (T == HM_Q6_K) {
            // ql[128] low nibbles, qh[64] high 2-bit pairs, int8 scales[16], fp16 d.
            const hm_u8 *b = row + 210 * (c >> 3);
            const int j = c & 7, half = j >> 2, quarter = j & 3;
            const float d = hm_half(hm_u16(b + 208));
            const hm_u8 *ql = b + 64 * half + 32 * (quarter & 1);
            const hm_u8 *qh = b + 128 + 32 * half;
            const signed char *scales = (const signed char *)(b + 192);
            const int lowShift = quarter < 2 ? 0 : 4, highShift = 2 * quarter;
            #pragma unroll
            for (int l = 0; l < 32; ++l) {
                const int q = ((ql[l] >> lowShift) & 0xF) | (((qh[l] >> highShift) & 3) << 4);
                v[l] = d * (float)scales[(32 * j + l) / 16] * (float)(q - 32);
            }
        }
    }

    // Dot of one row (k weights, GGUF layout) with x, reduced over the calling warp.
    template <int T> HM_DEVICE float hm_row_dot(const hm_u8 *__restrict__ row, const float *__restrict__ x, int k) {
        float acc = 0.0f, v[32];
        for (int c = threadIdx.x & 31; c < k / 32; c += 32) {
            hm_chunk<T>(row, c, v);
            const float *xc = x + 32 * c;
            #pragma unroll
            for (int i = 0; i < 32; ++i) acc += v[i] * xc[i];
        }
        return hm_warp_sum(acc);
    }
    """#
}
