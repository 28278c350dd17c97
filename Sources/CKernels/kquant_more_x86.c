// AVX2 kernels of Q2_K, Q3_K and IQ4_XS with Q8_K activations. One generic loop: each block is
// 8 chunks of 32 elements with one integer scale per 16 (Q2_K, Q3_K) or 32 (IQ4_XS) of them;
// integer chunk sums times the scales are exact. Q2_K and Q3_K follow ggml's float order
// exactly (kquant_portable.c is their bit-exact reference); IQ4_XS differs from
// dot_portable_more.c and the Swift reference in float summation order only.
#include "ckernels.h"
#include "x86_common.h"
#include "block_kinds.h"
#include "matmul_loop.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)

// The 32 signed weights of elements 32c..32c+31 (c = 4h + j: bits 2j of qs bytes 32h.. for
// Q2_K/Q3_K, Q3_K's high bit 4h + j of hmask[l]; sub-block c of IQ4_XS).
HM_AVX2 HM_INLINE __m256i hm_k256_weights(const uint8_t *x, int c, int kind) {
    const int h = c / 4, j = c % 4;
    const __m128i shift = _mm_cvtsi32_si128(2 * j);
    const __m256i m3 = _mm256_set1_epi8(3);
    switch (kind) {
    case HM_K256_Q2_K: return _mm256_and_si256(_mm256_srl_epi16(hm_loadu(x + 16 + 32 * h), shift), m3);
    case HM_K256_Q3_K: {
        const __m256i q = _mm256_and_si256(_mm256_srl_epi16(hm_loadu(x + 32 + 32 * h), shift), m3);
        const __m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + j)));
        const __m256i clear = _mm256_cmpeq_epi8(_mm256_and_si256(hm_loadu(x), bit), _mm256_setzero_si256());
        return _mm256_sub_epi8(q, _mm256_and_si256(clear, _mm256_set1_epi8(4)));
    }
    default: return _mm256_shuffle_epi8(hm_codebook(hm_iq4nl_values), hm_nibbles32(x + 8 + 16 * c));
    }
}

// The scales of chunk c per int32 lane of hm_dot_i8x32's result (lanes 0-3: elements 0-15).
HM_AVX2 HM_INLINE __m256i hm_k256_scales(const uint8_t *x, int c, int kind) {
    int s0, s1;
    switch (kind) {
    case HM_K256_Q2_K: s0 = x[2 * c] & 0xF, s1 = x[2 * c + 1] & 0xF; break;
    case HM_K256_Q3_K: s0 = hm_q3_K_scale(x + 96, 2 * c), s1 = hm_q3_K_scale(x + 96, 2 * c + 1); break;
    default: s0 = s1 = hm_iq4_xs_scale(x, c); break;
    }
    return _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1);
}

// ggml_vec_dot_q2_K_q8_K / q3_K (eight lanes, hsum_float_8; Q2_K adds its mins into the same
// lanes first, lane l: groups 2l, 2l+1), bit for bit as kquant_portable.c. IQ4_XS keeps its
// own order (a scalar chain of mins-free blocks, not matched to ggml).
HM_AVX2 HM_INLINE float hm_dot_k256(const uint8_t *x, const uint8_t *y, int64_t nb, int kind) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, x += hm_k256_bytes[kind], y += HM_Q8_K) {
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 8; ++c) {
            const __m256i p = hm_dot_i8x32(hm_k256_weights(x, c, kind), hm_loadu(y + 4 + 32 * c));
            sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p, hm_k256_scales(x, c, kind)));
        }
        const float yd = hm_load_f32(y);
        if (kind == HM_K256_Q2_K) {
            const __m128i sm = _mm_loadu_si128((const __m128i *)x);
            const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), _mm_set1_epi8(0xF)));
            const __m256i m = _mm256_madd_epi16(mins, hm_loadu(y + 260));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(-(yd * hm_h2f(x + 82))), _mm256_cvtepi32_ps(m), acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(yd * hm_h2f(x + 80)), _mm256_cvtepi32_ps(sumi), acc);
        } else {
            const float d = hm_h2f(x + (kind == HM_K256_Q3_K ? 108 : 0)) * yd;
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
    }
    return hm_hsum_f32x8(acc);
}

#define HM_K256_MATMUL(name, kind)                                                                 \
    HM_AVX2 static float hm_dot_##name(const uint8_t *x, const uint8_t *y, int64_t nb) { return hm_dot_k256(x, y, nb, kind); } \
    HM_MATMUL_LOOP(HM_AVX2, hm_matmul_##name, hm_dot_##name, 256)

HM_K256_MATMUL(q2_K_q8_K, HM_K256_Q2_K)
HM_K256_MATMUL(q3_K_q8_K, HM_K256_Q3_K)
HM_K256_MATMUL(iq4_xs_q8_K, HM_K256_IQ4_XS)

#else  // not x86-64: never dispatched to (hm_cpu_features() returns 0).
HM_MATMUL_DECL(hm_matmul_q2_K_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q3_K_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq4_xs_q8_K) { __builtin_trap(); }
#endif
