// AVX2 dot products of the grid formats (iquant.h) with Q8_K activations, bit for bit with
// their plain-C twins in iquant_portable.c and so with ggml's AVX2 kernels: each 32-element
// chunk becomes 32 unsigned grid magnitudes and 32 signs (applied to the activations, as ggml
// does), maddubs + madd by the odd scales give the chunk's eight int32 lanes, and each block
// adds fma(d * yd, float(lanes), acc) into one float accumulator (IQ1_M: two).
#include "ckernels.h"
#include "x86_common.h"
#include "iquant.h"
#include "matmul_loop.h"
#include <math.h>

#pragma clang fp contract(off)

#if defined(__x86_64__)

// Sign masks (0xFF where negative) of 32 weights from 4 sign bytes, weight 8k + j at bit j of byte k.
HM_AVX2 HM_INLINE __m256i hm_sign_mask(uint32_t bytes) {
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bytes),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// The same from four 7-bit indices into the even-parity sign table, as +-1 factors.
HM_AVX2 HM_INLINE __m256i hm_even_signs(uint32_t i0, uint32_t i1, uint32_t i2, uint32_t i3) {
    const uint64_t *s = (const uint64_t *)hm_iq2_even_signs;
    return _mm256_set_epi64x((long long)s[i3 & 127], (long long)s[i2 & 127], (long long)s[i1 & 127], (long long)s[i0 & 127]);
}

// Scale s0 for the first 16 elements of a chunk, s1 for the second, as int16 madd factors.
HM_AVX2 HM_INLINE __m256i hm_half_scales(int s0, int s1) {
    return _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0));
}

HM_AVX2 HM_INLINE __m256i hm_grid8x4(const uint64_t *grid, int i0, int i1, int i2, int i3) {
    return _mm256_set_epi64x((long long)grid[i3], (long long)grid[i2], (long long)grid[i1], (long long)grid[i0]);
}

// The lanes of one 32-element chunk `ib` of an IQ2/IQ3 block against its activations a.
HM_AVX2 HM_INLINE __m256i hm_iq_chunk(int kind, const uint8_t *x, int ib, __m256i a) {
    const uint8_t *qs = x + 2;
    __m256i mag, sa, sc;
    switch (kind) {
    case HM_IQ2_XXS: {
        uint32_t aux[2];
        memcpy(aux, qs + 8 * ib, 8);
        const uint8_t *q = qs + 8 * ib;
        mag = hm_grid8x4(hm_iq2xxs_grid, q[0], q[1], q[2], q[3]);
        sa = _mm256_sign_epi8(a, hm_even_signs(aux[1], aux[1] >> 7, aux[1] >> 14, aux[1] >> 21));
        sc = _mm256_set1_epi16((short)(2 * (aux[1] >> 28) + 1));
        break;
    }
    case HM_IQ2_XS: {
        uint16_t q[4];
        memcpy(q, qs + 8 * ib, 8);
        mag = hm_grid8x4(hm_iq2xs_grid, q[0] & 511, q[1] & 511, q[2] & 511, q[3] & 511);
        sa = _mm256_sign_epi8(a, hm_even_signs(q[0] >> 9, q[1] >> 9, q[2] >> 9, q[3] >> 9));
        sc = hm_half_scales(2 * (x[66 + ib] & 0xF) + 1, 2 * (x[66 + ib] >> 4) + 1);
        break;
    }
    case HM_IQ2_S: {
        const uint8_t *q = qs + 4 * ib, h = x[66 + ib];
        mag = hm_grid8x4(hm_iq2s_grid, q[0] | ((h << 8) & 0x300), q[1] | ((h << 6) & 0x300), q[2] | ((h << 4) & 0x300),
                         q[3] | ((h << 2) & 0x300));
        uint32_t signs;
        memcpy(&signs, qs + 32 + 4 * ib, 4);
        const __m256i m = hm_sign_mask(signs);
        sa = _mm256_sub_epi8(_mm256_xor_si256(a, m), m);
        sc = hm_half_scales(2 * (x[74 + ib] & 0xF) + 1, 2 * (x[74 + ib] >> 4) + 1);
        break;
    }
    case HM_IQ3_XXS: {
        const uint8_t *q = qs + 8 * ib;
        uint32_t aux;
        memcpy(&aux, qs + 64 + 4 * ib, 4);
        const uint32_t *g = hm_iq3xxs_grid;
        mag = _mm256_set_epi32((int)g[q[7]], (int)g[q[6]], (int)g[q[5]], (int)g[q[4]], (int)g[q[3]], (int)g[q[2]], (int)g[q[1]], (int)g[q[0]]);
        sa = _mm256_sign_epi8(a, hm_even_signs(aux, aux >> 7, aux >> 14, aux >> 21));
        sc = _mm256_set1_epi16((short)(2 * (aux >> 28) + 1));
        break;
    }
    default: {  // HM_IQ3_S: index k takes its ninth bit from bit k of qh[ib]
        const uint8_t *q = qs + 8 * ib;
        const uint32_t h = x[66 + ib], *g = hm_iq3s_grid;
        int idx[8];
        for (int k = 0; k < 8; ++k) idx[k] = q[k] | ((h << (8 - k)) & 256);
        mag = _mm256_set_epi32((int)g[idx[7]], (int)g[idx[6]], (int)g[idx[5]], (int)g[idx[4]], (int)g[idx[3]], (int)g[idx[2]],
                               (int)g[idx[1]], (int)g[idx[0]]);
        uint32_t signs;
        memcpy(&signs, x + 74 + 4 * ib, 4);
        const __m256i m = hm_sign_mask(signs);
        sa = _mm256_sub_epi8(_mm256_xor_si256(a, m), m);
        sc = _mm256_set1_epi16((short)(2 * ((x[106 + ib / 2] >> (4 * (ib & 1))) & 0xF) + 1));
        break;
    }
    }
    return _mm256_madd_epi16(_mm256_maddubs_epi16(mag, sa), sc);
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

// The 32 ternary IQ1 grid values of sub-block ib (4 groups of 8).
HM_AVX2 HM_INLINE __m256i hm_iq1_values(const uint8_t *q, int i0, int i1, int i2, int i3) {
    return hm_grid8x4(hm_iq1s_grid, q[0] | i0, q[1] | i1, q[2] | i2, q[3] | i3);
}

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
            const long long minus = -1, plus = 0x0101010101010101;  // eight int8 factors -1 or +1
            const __m256i shifts8 = _mm256_set_epi64x(h1 & 0x80 ? minus : plus, h1 & 0x08 ? minus : plus, h0 & 0x80 ? minus : plus,
                                                      h0 & 0x08 ? minus : plus);
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
