// AVX2 dot products and row-range matmuls for the 32-element block types and the float types
// (the K-quants are in kquant_x86.c). They accumulate in vector lanes like ggml does, which
// changes only the float summation order against the Swift reference.
#include "ckernels.h"
#include "x86_common.h"
#include "block_kinds.h"
#include "matmul_loop.h"
#include "portable_common.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)

// ---- 32-element blocks ----------------------------------------------------------------------

// 32 bits (Q5_0/Q5_1's fifth bits) as 32 bytes, 0xFF where bit j is set (ggml's bytes_from_bits_32).
HM_AVX2 HM_INLINE __m256i hm_bits32(const uint8_t *p) {
    uint32_t x32;
    memcpy(&x32, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bytes = _mm256_or_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)x32), shuf),
                                          _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

// The 32 integer weights of a block (block_kinds.h), as p_b32_values in dot_portable_more.c.
HM_AVX2 HM_INLINE __m256i hm_b32_weights(const uint8_t *x, int kind) {
    const uint8_t *qs = x + hm_b32_qs[kind];
    switch (kind) {
    case HM_B32_Q8_0: return hm_loadu(qs);
    case HM_B32_Q4_0: return _mm256_sub_epi8(hm_nibbles32(qs), _mm256_set1_epi8(8));
    case HM_B32_Q4_1: return hm_nibbles32(qs);
    // A clear fifth bit means q - 16 = nibble | 0xF0 as int8; a set one leaves the nibble.
    case HM_B32_Q5_0: return _mm256_or_si256(hm_nibbles32(qs), _mm256_andnot_si256(hm_bits32(x + 2), _mm256_set1_epi8((char)0xF0)));
    case HM_B32_Q5_1: return _mm256_or_si256(hm_nibbles32(qs), _mm256_and_si256(hm_bits32(x + 4), _mm256_set1_epi8(0x10)));
    case HM_B32_IQ4_NL: return _mm256_shuffle_epi8(hm_codebook(hm_iq4nl_values), hm_nibbles32(qs));
    default: return _mm256_shuffle_epi8(hm_codebook(hm_mxfp4_values), hm_nibbles32(qs));
    }
}

HM_AVX2 HM_INLINE float hm_b32_scale(const uint8_t *x, int kind) {
    return kind == HM_B32_MXFP4 ? hm_e8m0_half(x[0]) : hm_h2f(x);
}

// Single token: one accumulator chain over the blocks, as ggml_vec_dot_q8_0_q8_0 (and the
// multi-token path below) sums them, so a token's result does not depend on its batch.
// Q4_1/Q5_1 add min * s per block in a scalar chain, as ggml does.
HM_AVX2 HM_INLINE float hm_dot_b32(const uint8_t *x, const uint8_t *y, int64_t nb, int kind) {
    const size_t xb = hm_b32_bytes[kind], yb = hm_b32_act_bytes(kind);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t i = 0; i < nb; ++i, x += xb, y += yb) {
        const __m256i p = hm_dot_i8x32(hm_b32_weights(x, kind), hm_loadu(y + hm_b32_act_qs(kind)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(hm_b32_scale(x, kind) * hm_h2f(y)), _mm256_cvtepi32_ps(p), acc);
        if (hm_b32_has_min(kind)) mins += hm_h2f(x + 2) * hm_h2f(y + 2);
    }
    return hm_hsum_f32x8(acc) + mins;
}

// Several tokens: each weight block is loaded (and unpacked) once per token chunk; the
// tokens' accumulators are independent chains.
HM_AVX2 HM_INLINE void hm_matmul_b32(const uint8_t *w, size_t row_bytes, int64_t cols, int64_t rows,
                                     const uint8_t *act, size_t act_bytes, int64_t tokens, float *out,
                                     int64_t out_stride, int kind) {
    const int64_t nb = cols / 32;
    const size_t xb = hm_b32_bytes[kind], yb = hm_b32_act_bytes(kind);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t *wr = w + r * row_bytes;
        for (int64_t t0 = 0; t0 < tokens; t0 += HM_TOKENS) {
            const int nt = tokens - t0 < HM_TOKENS ? (int)(tokens - t0) : HM_TOKENS;
            const uint8_t *a0 = act + t0 * act_bytes;
            if (nt == 1) {
                out[r + t0 * out_stride] = hm_dot_b32(wr, a0, nb, kind);
                continue;
            }
            __m256 acc[HM_TOKENS];
            float mins[HM_TOKENS];
            for (int t = 0; t < nt; ++t) acc[t] = _mm256_setzero_ps(), mins[t] = 0.0f;
            for (int64_t i = 0; i < nb; ++i) {
                const uint8_t *x = wr + i * xb;
                const __m256i wv = hm_b32_weights(x, kind);
                const __m256i aw = _mm256_sign_epi8(wv, wv);  // |w|, see hm_dot_i8x32
                const float wd = hm_b32_scale(x, kind);
                for (int t = 0; t < nt; ++t) {
                    const uint8_t *y = a0 + t * act_bytes + i * yb;
                    const __m256i sy = _mm256_sign_epi8(hm_loadu(y + hm_b32_act_qs(kind)), wv);
                    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sy), ones);
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(wd * hm_h2f(y)), _mm256_cvtepi32_ps(p), acc[t]);
                    if (hm_b32_has_min(kind)) mins[t] += hm_h2f(x + 2) * hm_h2f(y + 2);
                }
            }
            for (int t = 0; t < nt; ++t) out[r + (t0 + t) * out_stride] = hm_hsum_f32x8(acc[t]) + mins[t];
        }
    }
}

#define HM_B32_MATMUL(name, kind) \
    HM_AVX2 HM_MATMUL_DECL(name) { hm_matmul_b32(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, kind); }

HM_B32_MATMUL(hm_matmul_q8_0_q8_0, HM_B32_Q8_0)
HM_B32_MATMUL(hm_matmul_q4_0_q8_0, HM_B32_Q4_0)
HM_B32_MATMUL(hm_matmul_q4_1_q8_1, HM_B32_Q4_1)
HM_B32_MATMUL(hm_matmul_q5_0_q8_0, HM_B32_Q5_0)
HM_B32_MATMUL(hm_matmul_q5_1_q8_1, HM_B32_Q5_1)
HM_B32_MATMUL(hm_matmul_iq4_nl_q8_0, HM_B32_IQ4_NL)
HM_B32_MATMUL(hm_matmul_mxfp4_q8_0, HM_B32_MXFP4)

// ---- Q8_0 repacked eight rows at a time -------------------------------------------------
// For each group of 8 rows and each 32-element block, one 272-byte record (the same bytes as
// the 8 rows' blocks): d[8] fp16, then for each 4-element step q the 4 quants of every row
// (row r at byte 16 + 32 q + 4 r). Rows sit in vector lanes and each activation step is
// broadcast, so the scale and float work is paid once per eight rows.
#define HM_Q8_0X8 272

HM_AVX2 void hm_repack_q8_0_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst) {
    const int64_t nb = cols / 32;
    for (int64_t g = 0; g < rows / 8; ++g) {
        for (int64_t i = 0; i < nb; ++i) {
            uint8_t *o = (uint8_t *)dst + (g * nb + i) * HM_Q8_0X8;
            for (int r = 0; r < 8; ++r) {
                const uint8_t *x = (const uint8_t *)src + (g * 8 + r) * row_bytes + i * HM_Q8_0;
                memcpy(o + 2 * r, x, 2);
                for (int q = 0; q < 8; ++q) memcpy(o + 16 + 32 * q + 4 * r, x + 2 + 4 * q, 4);
            }
        }
    }
}

HM_AVX2 HM_MATMUL_DECL(hm_matmul_q8_0_x8_q8_0) {
    const int64_t nb = cols / 32;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t g = 0; g < rows / 8; ++g) {
        const uint8_t *wg = (const uint8_t *)w + g * 8 * row_bytes;
        for (int64_t t = 0; t < tokens; ++t) {
            const uint8_t *a = (const uint8_t *)act + t * act_bytes;
            // One accumulator per 4-element step: step q's sums are the lanes of ggml's
            // per-row accumulator (mul_sum_i8_pairs_float), so the float arithmetic is ggml's.
            __m256 acc[8];
            for (int q = 0; q < 8; ++q) acc[q] = _mm256_setzero_ps();
            for (int64_t i = 0; i < nb; ++i) {
                const uint8_t *x = wg + i * HM_Q8_0X8, *y = a + i * HM_Q8_0;
                const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x)), _mm256_set1_ps(hm_h2f(y)));
                for (int q = 0; q < 8; ++q) {
                    int32_t a4;
                    memcpy(&a4, y + 2 + 4 * q, 4);
                    const __m256i wv = hm_loadu(x + 16 + 32 * q);
                    // |w| times a with w's sign: the usual way round maddubs's unsigned operand.
                    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(_mm256_set1_epi32(a4), wv));
                    acc[q] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), acc[q]);
                }
            }
            // hsum_float_8's tree over the steps: ((4+0) + (6+2)) + ((5+1) + (7+3)).
            const __m256 lo = _mm256_add_ps(_mm256_add_ps(acc[4], acc[0]), _mm256_add_ps(acc[6], acc[2]));
            const __m256 hi = _mm256_add_ps(_mm256_add_ps(acc[5], acc[1]), _mm256_add_ps(acc[7], acc[3]));
            const __m256 sum = _mm256_add_ps(lo, hi);
            _mm256_storeu_ps(out + 8 * g + t * out_stride, sum);
        }
    }
}

// ---- float types ----------------------------------------------------------------------------

// Loads 8 elements of each float format as 8 floats.
HM_AVX2 HM_INLINE __m256 hm_ld_f16(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
HM_AVX2 HM_INLINE __m256 hm_ld_bf16(const uint8_t *p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

HM_AVX2 HM_INLINE float hm_s_f16(const uint8_t *p) { return hm_h2f(p); }
HM_AVX2 HM_INLINE float hm_s_bf16(const uint8_t *p) { return p_bf2f(p); }

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

// ---- matmul drivers -------------------------------------------------------------------------

#define HM_MATMUL_DEF(name, dot, per) HM_MATMUL_LOOP(HM_AVX2, name, dot, per)

HM_MATMUL_DEF(hm_matmul_f16_f16, hm_dot_f16, 1)
HM_MATMUL_DEF(hm_matmul_bf16_bf16, hm_dot_bf16, 1)

#else  // not x86-64: never dispatched to (hm_cpu_features() returns 0).
#define HM_TRAP(name) HM_MATMUL_DECL(name) { __builtin_trap(); }
HM_TRAP(hm_matmul_q8_0_q8_0)
HM_TRAP(hm_matmul_q8_0_x8_q8_0)
void hm_repack_q8_0_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst) { __builtin_trap(); }
HM_TRAP(hm_matmul_q4_0_q8_0)
HM_TRAP(hm_matmul_q4_1_q8_1)
HM_TRAP(hm_matmul_q5_0_q8_0)
HM_TRAP(hm_matmul_q5_1_q8_1)
HM_TRAP(hm_matmul_iq4_nl_q8_0)
HM_TRAP(hm_matmul_mxfp4_q8_0)
HM_TRAP(hm_matmul_f16_f16)
HM_TRAP(hm_matmul_bf16_bf16)
#endif
