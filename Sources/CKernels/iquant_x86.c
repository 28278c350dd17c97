// AVX2 dot products of the grid formats (iquant.h) with Q8_K activations, bit for bit with
// their plain-C twins in iquant_portable.c and so with ggml's AVX2 kernels: each 32-element
// chunk becomes 32 unsigned grid magnitudes and 32 signs (applied to the activations, as ggml
// does), maddubs + madd by the odd scales give the chunk's eight int32 lanes, and each block
// adds fma(d * yd, float(lanes), acc) into one float accumulator (IQ1_M: two).
#include "ckernels.h"
#include "x86_common.h"
#include "iquant.h"
#include "iquant_x86.h"
#include "matmul_loop.h"
#include <math.h>

#pragma clang fp contract(off)

#if defined(__x86_64__)

// The lanes of one 32-element chunk `ib` of an IQ2/IQ3 block against its activations a (the
// signs go onto the activations, as ggml's kernels do).
HM_AVX2 HM_INLINE __m256i hm_iq_chunk(int kind, const uint8_t *x, int ib, __m256i a) {
    __m256i mag;
    int lo, hi;
    const __m256i signs = hm_iq_grid32(kind, x, ib, &mag, &lo, &hi);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(mag, hm_iq_apply_signs(kind, a, signs)), hm_half_scales(lo, hi));
}

// IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S: `kind` is a constant at every call.
HM_AVX2 HM_INLINE float hm_dot_iq_signed(const uint8_t *x, const uint8_t *y, int64_t nb, int kind, float factor) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, x += hm_iq_bytes[kind], y += HM_Q8_K) {
        __m256i sumi = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib) sumi = _mm256_add_epi32(sumi, hm_iq_chunk(kind, x, ib, hm_loadu(y + 4 + 32 * ib)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(hm_h2f(x) * hm_load_f32(y)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return factor == 1.0f ? hm_hsum_f32x8(acc) : factor * hm_hsum_f32x8(acc);
}

#define HM_IQ(name, kind, factor)                                                                           \
    HM_AVX2 static float hm_dot_##name(const uint8_t *x, const uint8_t *y, int64_t nb) {                    \
        return hm_dot_iq_signed(x, y, nb, kind, factor);                                                    \
    }                                                                                                       \
    HM_MATMUL_LOOP(HM_AVX2, hm_matmul_##name##_q8_K, hm_dot_##name, 256)
HM_IQ(iq2_xxs, HM_IQ2_XXS, 0.125f)
HM_IQ(iq2_xs, HM_IQ2_XS, 0.125f)
HM_IQ(iq2_s, HM_IQ2_S, 0.125f)
HM_IQ(iq3_xxs, HM_IQ3_XXS, 0.25f)
HM_IQ(iq3_s, HM_IQ3_S, 1.0f)

// Signed lanes of values * a (values in -1..1) times the int16 scales.
HM_AVX2 HM_INLINE __m256i hm_ternary_lanes(__m256i v, __m256i a, __m256i sc) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(a, v)), sc);
}

// IQ1_S: the shifts' sum from the activations' group sums, one scalar integer per block in a
// scalar float chain (GCC contracts ggml's `accum1 += d * sumi1` and the final
// `hsum + IQ1S_DELTA * accum1` into fmas).
HM_AVX2 static float hm_dot_iq1_s(const uint8_t *x, const uint8_t *y, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    float shifts = 0.0f;
    for (int64_t b = 0; b < nb; ++b, x += 50, y += HM_Q8_K) {
        __m256i sumi = _mm256_setzero_si256();
        int32_t dsum = 0;
        for (int ib = 0; ib < 8; ++ib) {
            uint16_t qh;
            int16_t bs[2];
            memcpy(&qh, x + 34 + 2 * ib, 2);
            memcpy(bs, y + 260 + 4 * ib, 4);
            const int ls = 2 * ((qh >> 12) & 7) + 1;
            const __m256i v = hm_iq1_values(x + 2 + 4 * ib, (qh << 8) & 0x700, (qh << 5) & 0x700, (qh << 2) & 0x700, (qh >> 1) & 0x700);
            sumi = _mm256_add_epi32(sumi, hm_ternary_lanes(v, hm_loadu(y + 4 + 32 * ib), _mm256_set1_epi16((short)ls)));
            dsum += (bs[0] + bs[1]) * (qh & 0x8000 ? -1 : 1) * ls;
        }
        const float d = hm_load_f32(y) * hm_h2f(x);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        shifts = fmaf(d, (float)dsum, shifts);
    }
    return fmaf(0.125f, shifts, hm_hsum_f32x8(acc));
}
HM_MATMUL_LOOP(HM_AVX2, hm_matmul_iq1_s_q8_K, hm_dot_iq1_s, 256)

// IQ1_M: the shifts (+-1 per group of 8, from the qh nibbles' bit 3) in lanes of their own.
HM_AVX2 static float hm_dot_iq1_m(const uint8_t *x, const uint8_t *y, int64_t nb) {
    __m256 acc = _mm256_setzero_ps(), dacc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, x += 56, y += HM_Q8_K) {
        __m256i sumi = _mm256_setzero_si256(), dsumi = _mm256_setzero_si256();
        uint16_t sc[4];
        memcpy(sc, x + 48, 8);
        for (int ib = 0; ib < 8; ++ib) {
            const uint8_t h0 = x[32 + 2 * ib], h1 = x[33 + 2 * ib];
            const __m256i v = hm_iq1_values(x + 4 * ib, (h0 << 8) & 0x700, (h0 << 4) & 0x700, (h1 << 8) & 0x700, (h1 << 4) & 0x700);
            const int s = sc[ib / 2] >> (6 * (ib & 1));
            const __m256i scales = hm_half_scales(2 * (s & 7) + 1, 2 * ((s >> 3) & 7) + 1);
            const __m256i shifts8 = hm_iq1_m_shifts(h0, h1);
            const __m256i a = hm_loadu(y + 4 + 32 * ib);
            sumi = _mm256_add_epi32(sumi, hm_ternary_lanes(v, a, scales));
            dsumi = _mm256_add_epi32(dsumi, hm_ternary_lanes(shifts8, a, scales));
        }
        const uint16_t bits = hm_iq1_m_d_bits(x);
        const __m256 d = _mm256_set1_ps(hm_load_f32(y) * hm_h2f((const uint8_t *)&bits));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
        dacc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dsumi), dacc);
    }
    return fmaf(0.125f, hm_hsum_f32x8(dacc), hm_hsum_f32x8(acc));
}
HM_MATMUL_LOOP(HM_AVX2, hm_matmul_iq1_m_q8_K, hm_dot_iq1_m, 256)

#else  // not x86-64: never dispatched to (hm_cpu_features() returns 0).
HM_MATMUL_DECL(hm_matmul_iq2_xxs_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq2_xs_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq2_s_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq3_xxs_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq3_s_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq1_s_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq1_m_q8_K) { __builtin_trap(); }
#endif
