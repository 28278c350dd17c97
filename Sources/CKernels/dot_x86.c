// AVX2 dot products and row-range matmuls. The K-quant kernels reduce each block to exact
// int32 sums and then do the same scalar float steps as the Swift reference
// (DotReference.swift), so their results are bit-identical to it; contraction into FMA is
// disabled for that reason. Q8_0/Q4_0 and the float types accumulate in vector lanes like
// ggml does, which changes only the float summation order.
#include "ckernels.h"
#include "x86_common.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)

// ---- K-quants -------------------------------------------------------------------------------

// Unpacks a Q4_K/Q5_K 12-byte scale field into 8 scales (bytes 0..7) and 8 mins (bytes 8..15),
// the same bit shuffle as ggml's utmp trick.
HM_AVX2 HM_INLINE void hm_unpack_scales_k4(const uint8_t *q, uint8_t out[16]) {
    const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    uint32_t u[4];
    memcpy(u, q, 12);
    u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
    const uint32_t aux = u[1] & kmask1;
    u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
    u[2] = aux;
    u[0] &= kmask1;
    memcpy(out, u, 16);
}

// Sum over groups g of bsums[g] * mins[g / 2] for one Q8_K block.
HM_AVX2 HM_INLINE int32_t hm_min_sum(const uint8_t sm[16], const uint8_t *y) {
    const __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(sm + 8)));
    const __m256i bs = hm_loadu(y + 260);
    const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    return hm_hsum_i32x4(_mm_madd_epi16(mins, pairs));
}

// Tokens handled per pass over a weight row: each weight block is unpacked once per chunk and
// then dotted with every token's activation block.
#define HM_TOKENS 8

// A Q4_K/Q5_K block's quants as unsigned bytes, one vector per 32-element sub-block (element
// order), plus its unpacked 6-bit scales (sm[0..7]) and mins (sm[8..15]).
typedef struct {
    __m256i q[8];
    uint8_t sm[16];
} hm_q45_block;

HM_AVX2 HM_INLINE void hm_unpack_q45(const uint8_t *x, int five, hm_q45_block *b) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i one = _mm256_set1_epi8(1);
    const uint8_t *qs = x + (five ? 48 : 16);
    const __m256i hbits = five ? hm_loadu(x + 16) : _mm256_setzero_si256();
    hm_unpack_scales_k4(x + 4, b->sm);
    for (int j = 0; j < 4; ++j) {
        const __m256i bits = hm_loadu(qs + 32 * j);
        __m256i lo = _mm256_and_si256(bits, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        if (five) {
            // Bit 2j of each qh byte is the fifth bit of the low nibble, bit 2j+1 of the high one.
            const __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one);
            const __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(b0, 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(b1, 4));
        }
        b->q[2 * j] = lo;
        b->q[2 * j + 1] = hi;
    }
}

// Integer part of a Q4_K/Q5_K block against one Q8_K block: sum over sub-blocks of
// scale * (quants . q8). Unsigned quants (<= 31) times int8 keep maddubs far from saturation.
HM_AVX2 HM_INLINE int32_t hm_q45_isum(const hm_q45_block *b, const int8_t *q8) {
    __m256i acc = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) {
        const __m256i p = _mm256_maddubs_epi16(b->q[k], hm_loadu(q8 + 32 * k));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_set1_epi16(b->sm[k]), p));
    }
    return hm_hsum_i32x8(acc);
}

// One weight row against `nt` tokens. Always inlined and called with a literal nt = 1 for
// single tokens, so the unpacked block then stays in registers instead of on the stack.
HM_AVX2 HM_INLINE void hm_q45_row(const uint8_t *wr, int64_t nb, int five, const uint8_t *a0,
                                  size_t act_bytes, int nt, float *sum, float *sum_mins) {
    const size_t xbytes = five ? HM_Q5_K : HM_Q4_K;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *x = wr + i * xbytes;
        hm_q45_block b;
        hm_unpack_q45(x, five, &b);
        float d, dmin;
        hm_h2f_pair(x, &d, &dmin);
        for (int t = 0; t < nt; ++t) {
            const uint8_t *y = a0 + t * act_bytes + i * HM_Q8_K;
            const int32_t isum = hm_q45_isum(&b, (const int8_t *)(y + 4));
            const int32_t msum = hm_min_sum(b.sm, y);
            const float yd = hm_load_f32(y);
            sum[t] += (yd * d) * (float)isum;
            sum_mins[t] += (yd * dmin) * (float)msum;
        }
    }
}

HM_AVX2 HM_INLINE void hm_matmul_q45(const uint8_t *w, size_t row_bytes, int64_t cols, int64_t rows,
                                     const uint8_t *act, size_t act_bytes, int64_t tokens, float *out,
                                     int64_t out_stride, int five) {
    const int64_t nb = cols / 256;
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t *wr = w + r * row_bytes;
        for (int64_t t0 = 0; t0 < tokens; t0 += HM_TOKENS) {
            const int nt = tokens - t0 < HM_TOKENS ? (int)(tokens - t0) : HM_TOKENS;
            const uint8_t *a0 = act + t0 * act_bytes;
            float sum[HM_TOKENS] = {0}, sum_mins[HM_TOKENS] = {0};
            if (nt == 1) {
                hm_q45_row(wr, nb, five, a0, act_bytes, 1, sum, sum_mins);
            } else {
                hm_q45_row(wr, nb, five, a0, act_bytes, nt, sum, sum_mins);
            }
            for (int t = 0; t < nt; ++t) out[r + (t0 + t) * out_stride] = sum[t] - sum_mins[t];
        }
    }
}

HM_AVX2 HM_MATMUL_DECL(hm_matmul_q4_K_q8_K) {
    hm_matmul_q45(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, 0);
}

HM_AVX2 HM_MATMUL_DECL(hm_matmul_q5_K_q8_K) {
    hm_matmul_q45(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, 1);
}

// A Q6_K block's quants as unsigned 6-bit bytes (bias 32 kept), one vector per 32 elements,
// and per-vector int16 scale vectors (scale g for lanes 0..7, g+1 for lanes 8..15).
typedef struct {
    __m256i q[8];
    __m256i s[8];
    __m256i s_all;  // all 16 scales as int16, for the bias term
} hm_q6_block;

HM_AVX2 HM_INLINE void hm_unpack_q6(const uint8_t *x, hm_q6_block *b) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i pick = _mm_set_epi64x(0x0101010101010101LL, 0);
    const __m128i sc = _mm_loadu_si128((const __m128i *)(x + 192));
    for (int half = 0; half < 2; ++half) {
        const __m256i l0 = hm_loadu(x + 64 * half);
        const __m256i l1 = hm_loadu(x + 64 * half + 32);
        const __m256i h = hm_loadu(x + 128 + 32 * half);
        __m256i *v = b->q + 4 * half;
        // Quarter k: low nibbles of l0/l1 for k = 0/1, high nibbles for k = 2/3; top bits at 2k.
        v[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
        v[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
        v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
        v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
    }
    for (int k = 0; k < 8; ++k) {
        const __m128i s8 = _mm_shuffle_epi8(sc, _mm_add_epi8(pick, _mm_set1_epi8((char)(2 * k))));
        b->s[k] = _mm256_cvtepi8_epi16(s8);
    }
    b->s_all = _mm256_cvtepi8_epi16(sc);
}

// Integer part of a Q6_K block against one Q8_K block: sum over groups of scale * ((q - 32) . q8),
// computed as scale * (q . q8) minus 32 * scale * bsum.
HM_AVX2 HM_INLINE int32_t hm_q6_isum(const hm_q6_block *b, const uint8_t *y) {
    const int8_t *q8 = (const int8_t *)(y + 4);
    __m256i acc = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) {
        const __m256i p = _mm256_maddubs_epi16(b->q[k], hm_loadu(q8 + 32 * k));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(b->s[k], p));
    }
    const __m256i bias = _mm256_madd_epi16(hm_loadu(y + 260), b->s_all);
    return hm_hsum_i32x8(_mm256_sub_epi32(acc, _mm256_slli_epi32(bias, 5)));
}

// One weight row against `nt` tokens (see hm_q45_row for the literal nt = 1 call).
HM_AVX2 HM_INLINE void hm_q6_row(const uint8_t *wr, int64_t nb, const uint8_t *a0, size_t act_bytes,
                                 int nt, float *sum) {
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *x = wr + i * HM_Q6_K;
        hm_q6_block b;
        hm_unpack_q6(x, &b);
        const float d = hm_h2f(x + 208);
        for (int t = 0; t < nt; ++t) {
            const uint8_t *y = a0 + t * act_bytes + i * HM_Q8_K;
            sum[t] += (hm_load_f32(y) * d) * (float)hm_q6_isum(&b, y);
        }
    }
}

HM_AVX2 HM_MATMUL_DECL(hm_matmul_q6_K_q8_K) {
    const int64_t nb = cols / 256;
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t *wr = (const uint8_t *)w + r * row_bytes;
        for (int64_t t0 = 0; t0 < tokens; t0 += HM_TOKENS) {
            const int nt = tokens - t0 < HM_TOKENS ? (int)(tokens - t0) : HM_TOKENS;
            const uint8_t *a0 = (const uint8_t *)act + t0 * act_bytes;
            float sum[HM_TOKENS] = {0};
            if (nt == 1) {
                hm_q6_row(wr, nb, a0, act_bytes, 1, sum);
            } else {
                hm_q6_row(wr, nb, a0, act_bytes, nt, sum);
            }
            for (int t = 0; t < nt; ++t) out[r + (t0 + t) * out_stride] = sum[t];
        }
    }
}

// ---- 32-element blocks ----------------------------------------------------------------------

// Signed int8 dot of 32 lanes into 8 int32 lanes. |x| may be 128 but y must lie in [-127, 127]
// (true for every activation our quantisers produce), so the maddubs pairs cannot saturate.
HM_AVX2 HM_INLINE __m256i hm_dot_i8x32(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

// 16 bytes of Q4_0 nibbles as 32 signed values in element order (low nibbles first).
HM_AVX2 HM_INLINE __m256i hm_q4_0_values(const uint8_t *qs) {
    const __m128i bits = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m4 = _mm_set1_epi8(0xF);
    const __m256i v = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bits, 4), m4), _mm_and_si128(bits, m4));
    return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}

// The 32 signed weights of a Q4_0 (q4 = 1) or Q8_0 (q4 = 0) block; the scale is at offset 0.
HM_AVX2 HM_INLINE __m256i hm_b32_weights(const uint8_t *x, int q4) {
    return q4 ? hm_q4_0_values(x + 2) : hm_loadu(x + 2);
}

// Single token: two independent accumulators hide the FMA latency.
HM_AVX2 HM_INLINE float hm_dot_b32(const uint8_t *x, const uint8_t *y, int64_t nb, int q4) {
    const size_t xb = q4 ? HM_Q4_0 : HM_Q8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 1 < nb; i += 2, x += 2 * xb, y += 2 * HM_Q8_0) {
        const __m256i p0 = hm_dot_i8x32(hm_b32_weights(x, q4), hm_loadu(y + 2));
        const __m256i p1 = hm_dot_i8x32(hm_b32_weights(x + xb, q4), hm_loadu(y + HM_Q8_0 + 2));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(hm_h2f(x) * hm_h2f(y)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(hm_h2f(x + xb) * hm_h2f(y + HM_Q8_0)), _mm256_cvtepi32_ps(p1), acc1);
    }
    if (i < nb) {
        const __m256i p = hm_dot_i8x32(hm_b32_weights(x, q4), hm_loadu(y + 2));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(hm_h2f(x) * hm_h2f(y)), _mm256_cvtepi32_ps(p), acc0);
    }
    return hm_hsum_f32x8(_mm256_add_ps(acc0, acc1));
}

// Several tokens: each weight block is loaded (and for Q4_0 unpacked) once per token chunk;
// the tokens' accumulators are independent chains.
HM_AVX2 HM_INLINE void hm_matmul_b32(const uint8_t *w, size_t row_bytes, int64_t cols, int64_t rows,
                                     const uint8_t *act, size_t act_bytes, int64_t tokens, float *out,
                                     int64_t out_stride, int q4) {
    const int64_t nb = cols / 32;
    const size_t xb = q4 ? HM_Q4_0 : HM_Q8_0;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t *wr = w + r * row_bytes;
        for (int64_t t0 = 0; t0 < tokens; t0 += HM_TOKENS) {
            const int nt = tokens - t0 < HM_TOKENS ? (int)(tokens - t0) : HM_TOKENS;
            const uint8_t *a0 = act + t0 * act_bytes;
            if (nt == 1) {
                out[r + t0 * out_stride] = hm_dot_b32(wr, a0, nb, q4);
                continue;
            }
            __m256 acc[HM_TOKENS];
            for (int t = 0; t < nt; ++t) acc[t] = _mm256_setzero_ps();
            for (int64_t i = 0; i < nb; ++i) {
                const uint8_t *x = wr + i * xb;
                const __m256i wv = hm_b32_weights(x, q4);
                const __m256i aw = _mm256_sign_epi8(wv, wv);  // |w|, see hm_dot_i8x32
                const float wd = hm_h2f(x);
                for (int t = 0; t < nt; ++t) {
                    const uint8_t *y = a0 + t * act_bytes + i * HM_Q8_0;
                    const __m256i sy = _mm256_sign_epi8(hm_loadu(y + 2), wv);
                    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sy), ones);
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(wd * hm_h2f(y)), _mm256_cvtepi32_ps(p), acc[t]);
                }
            }
            for (int t = 0; t < nt; ++t) out[r + (t0 + t) * out_stride] = hm_hsum_f32x8(acc[t]);
        }
    }
}

HM_AVX2 HM_MATMUL_DECL(hm_matmul_q8_0_q8_0) {
    hm_matmul_b32(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, 0);
}

HM_AVX2 HM_MATMUL_DECL(hm_matmul_q4_0_q8_0) {
    hm_matmul_b32(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, 1);
}

// ---- float types ----------------------------------------------------------------------------

// Loads 8 elements of each float format as 8 floats.
HM_AVX2 HM_INLINE __m256 hm_ld_f16(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
HM_AVX2 HM_INLINE __m256 hm_ld_bf16(const uint8_t *p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
HM_AVX2 HM_INLINE __m256 hm_ld_f32(const uint8_t *p) { return _mm256_loadu_ps((const float *)p); }

HM_AVX2 HM_INLINE float hm_s_f16(const uint8_t *p) { return hm_h2f(p); }
HM_AVX2 HM_INLINE float hm_s_bf16(const uint8_t *p) {
    uint16_t b;
    memcpy(&b, p, 2);
    const uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
HM_AVX2 HM_INLINE float hm_s_f32(const uint8_t *p) { return hm_load_f32(p); }

// Four 8-lane accumulators over 32-element steps, then 8-element steps, then a scalar tail
// summed in double (ggml's vec_dot_f16 layout).
#define HM_FLOAT_DOT(name, esize, vload, sload)                                                  \
    HM_AVX2 static float name(const uint8_t *x, const uint8_t *y, int64_t n) {                    \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                                 \
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();                                 \
        int64_t i = 0;                                                                            \
        for (; i + 32 <= n; i += 32) {                                                            \
            a0 = _mm256_fmadd_ps(vload(x + (i + 0) * esize), vload(y + (i + 0) * esize), a0);     \
            a1 = _mm256_fmadd_ps(vload(x + (i + 8) * esize), vload(y + (i + 8) * esize), a1);     \
            a2 = _mm256_fmadd_ps(vload(x + (i + 16) * esize), vload(y + (i + 16) * esize), a2);   \
            a3 = _mm256_fmadd_ps(vload(x + (i + 24) * esize), vload(y + (i + 24) * esize), a3);   \
        }                                                                                         \
        for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(vload(x + i * esize), vload(y + i * esize), a0); \
        double sum = hm_hsum_f32x8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));  \
        for (; i < n; ++i) sum += (double)(sload(x + i * esize) * sload(y + i * esize));          \
        return (float)sum;                                                                        \
    }

HM_FLOAT_DOT(hm_dot_f16, 2, hm_ld_f16, hm_s_f16)
HM_FLOAT_DOT(hm_dot_bf16, 2, hm_ld_bf16, hm_s_bf16)
HM_FLOAT_DOT(hm_dot_f32, 4, hm_ld_f32, hm_s_f32)

// ---- matmul drivers -------------------------------------------------------------------------

// `per` is the element count one unit of the dot's length argument stands for (block size, or 1).
#define HM_MATMUL_DEF(name, dot, per)                                                             \
    HM_AVX2 HM_MATMUL_DECL(name) {                                                               \
        const uint8_t *wr = (const uint8_t *)w;                                                  \
        const int64_t units = cols / (per);                                                      \
        for (int64_t r = 0; r < rows; ++r, wr += row_bytes) {                                    \
            const uint8_t *a = (const uint8_t *)act;                                             \
            for (int64_t t = 0; t < tokens; ++t, a += act_bytes) {                               \
                out[r + t * out_stride] = dot(wr, a, units);                                     \
            }                                                                                    \
        }                                                                                        \
    }

HM_MATMUL_DEF(hm_matmul_f16_f16, hm_dot_f16, 1)
HM_MATMUL_DEF(hm_matmul_bf16_bf16, hm_dot_bf16, 1)
HM_MATMUL_DEF(hm_matmul_f32_f32, hm_dot_f32, 1)

#else  // not x86-64: never dispatched to (hm_cpu_features() returns 0).
#define HM_TRAP(name) HM_MATMUL_DECL(name) { __builtin_trap(); }
HM_TRAP(hm_matmul_q4_K_q8_K)
HM_TRAP(hm_matmul_q5_K_q8_K)
HM_TRAP(hm_matmul_q6_K_q8_K)
HM_TRAP(hm_matmul_q8_0_q8_0)
HM_TRAP(hm_matmul_q4_0_q8_0)
HM_TRAP(hm_matmul_f16_f16)
HM_TRAP(hm_matmul_bf16_bf16)
HM_TRAP(hm_matmul_f32_f32)
#endif
