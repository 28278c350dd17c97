// AVX2 pieces of the grid formats (iquant.h) shared by the per-dot kernels (iquant_x86.c) and
// the prompt-batch tiles (kquant_tiled_x86.c).
#ifndef HOTMOE_IQUANT_X86_H
#define HOTMOE_IQUANT_X86_H
#include "x86_common.h"
#include "iquant.h"

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

// Chunk `ib` (32 elements) of an IQ2/IQ3 block: the 32 unsigned grid magnitudes (*mag), the
// odd scales of its two halves, and the signs as hm_iq_apply_signs takes them (+-1 factors for
// the kinds with 7-bit even-parity sign indices, 0xFF masks for IQ2_S and IQ3_S).
HM_AVX2 HM_INLINE __m256i hm_iq_grid32(int kind, const uint8_t *x, int ib, __m256i *mag, int *lo, int *hi) {
    const uint8_t *qs = x + 2;
    switch (kind) {
    case HM_IQ2_XXS: {
        uint32_t aux[2];
        memcpy(aux, qs + 8 * ib, 8);
        const uint8_t *q = qs + 8 * ib;
        *mag = hm_grid8x4(hm_iq2xxs_grid, q[0], q[1], q[2], q[3]);
        *lo = *hi = 2 * (int)(aux[1] >> 28) + 1;
        return hm_even_signs(aux[1], aux[1] >> 7, aux[1] >> 14, aux[1] >> 21);
    }
    case HM_IQ2_XS: {
        uint16_t q[4];
        memcpy(q, qs + 8 * ib, 8);
        *mag = hm_grid8x4(hm_iq2xs_grid, q[0] & 511, q[1] & 511, q[2] & 511, q[3] & 511);
        *lo = 2 * (x[66 + ib] & 0xF) + 1, *hi = 2 * (x[66 + ib] >> 4) + 1;
        return hm_even_signs(q[0] >> 9, q[1] >> 9, q[2] >> 9, q[3] >> 9);
    }
    case HM_IQ2_S: {
        const uint8_t *q = qs + 4 * ib, h = x[66 + ib];
        *mag = hm_grid8x4(hm_iq2s_grid, q[0] | ((h << 8) & 0x300), q[1] | ((h << 6) & 0x300), q[2] | ((h << 4) & 0x300),
                          q[3] | ((h << 2) & 0x300));
        uint32_t signs;
        memcpy(&signs, qs + 32 + 4 * ib, 4);
        *lo = 2 * (x[74 + ib] & 0xF) + 1, *hi = 2 * (x[74 + ib] >> 4) + 1;
        return hm_sign_mask(signs);
    }
    case HM_IQ3_XXS: {
        const uint8_t *q = qs + 8 * ib;
        uint32_t aux;
        memcpy(&aux, qs + 64 + 4 * ib, 4);
        const uint32_t *g = hm_iq3xxs_grid;
        *mag = _mm256_set_epi32((int)g[q[7]], (int)g[q[6]], (int)g[q[5]], (int)g[q[4]], (int)g[q[3]], (int)g[q[2]], (int)g[q[1]],
                                (int)g[q[0]]);
        *lo = *hi = 2 * (int)(aux >> 28) + 1;
        return hm_even_signs(aux, aux >> 7, aux >> 14, aux >> 21);
    }
    default: {  // HM_IQ3_S: index k takes its ninth bit from bit k of qh[ib]
        const uint8_t *q = qs + 8 * ib;
        const uint32_t h = x[66 + ib], *g = hm_iq3s_grid;
        int idx[8];
        for (int k = 0; k < 8; ++k) idx[k] = q[k] | ((h << (8 - k)) & 256);
        *mag = _mm256_set_epi32((int)g[idx[7]], (int)g[idx[6]], (int)g[idx[5]], (int)g[idx[4]], (int)g[idx[3]], (int)g[idx[2]],
                                (int)g[idx[1]], (int)g[idx[0]]);
        uint32_t signs;
        memcpy(&signs, x + 74 + 4 * ib, 4);
        *lo = *hi = 2 * ((x[106 + ib / 2] >> (4 * (ib & 1))) & 0xF) + 1;
        return hm_sign_mask(signs);
    }
    }
}

// v with the signs of hm_iq_grid32 applied.
HM_AVX2 HM_INLINE __m256i hm_iq_apply_signs(int kind, __m256i v, __m256i signs) {
    return kind == HM_IQ2_S || kind == HM_IQ3_S ? _mm256_sub_epi8(_mm256_xor_si256(v, signs), signs) : _mm256_sign_epi8(v, signs);
}

// The 32 ternary IQ1 grid values of sub-block ib (4 groups of 8).
HM_AVX2 HM_INLINE __m256i hm_iq1_values(const uint8_t *q, int i0, int i1, int i2, int i3) {
    return hm_grid8x4(hm_iq1s_grid, q[0] | i0, q[1] | i1, q[2] | i2, q[3] | i3);
}

// IQ1_M's shift signs of a sub-block's four groups of 8 (bit 3 of the qh nibbles), as int8 -1/+1.
HM_AVX2 HM_INLINE __m256i hm_iq1_m_shifts(uint8_t h0, uint8_t h1) {
    const long long minus = -1, plus = 0x0101010101010101;
    return _mm256_set_epi64x(h1 & 0x80 ? minus : plus, h1 & 0x08 ? minus : plus, h0 & 0x80 ? minus : plus, h0 & 0x08 ? minus : plus);
}

// Chunk `ib` (32 elements) of a grid block as signed int8 codes for the tiles, and the odd
// scales of its two halves: IQ2/IQ3 the signed grid values; IQ1 8 * value + shift sign (the
// shift is +-1/8, so d / 8 times these codes is exact). Integer for integer the terms of
// hm_iq_chunk and the IQ1 kernels.
HM_AVX2 HM_INLINE __m256i hm_iq_codes32(int kind, const uint8_t *x, int ib, int *lo, int *hi) {
    const __m256i eight = _mm256_set1_epi8(8);
    if (kind == HM_IQ1_S) {
        uint16_t qh;
        memcpy(&qh, x + 34 + 2 * ib, 2);
        const __m256i v = hm_iq1_values(x + 2 + 4 * ib, (qh << 8) & 0x700, (qh << 5) & 0x700, (qh << 2) & 0x700, (qh >> 1) & 0x700);
        *lo = *hi = 2 * ((qh >> 12) & 7) + 1;
        return _mm256_add_epi8(_mm256_sign_epi8(eight, v), _mm256_set1_epi8(qh & 0x8000 ? -1 : 1));
    }
    if (kind == HM_IQ1_M) {  // no d field, qs from byte 0
        const uint8_t h0 = x[32 + 2 * ib], h1 = x[33 + 2 * ib];
        const __m256i v = hm_iq1_values(x + 4 * ib, (h0 << 8) & 0x700, (h0 << 4) & 0x700, (h1 << 8) & 0x700, (h1 << 4) & 0x700);
        uint16_t sc;
        memcpy(&sc, x + 48 + 2 * (ib / 2), 2);
        const int s = sc >> (6 * (ib & 1));
        *lo = 2 * (s & 7) + 1, *hi = 2 * ((s >> 3) & 7) + 1;
        return _mm256_add_epi8(_mm256_sign_epi8(eight, v), hm_iq1_m_shifts(h0, h1));
    }
    __m256i mag;
    const __m256i signs = hm_iq_grid32(kind, x, ib, &mag, lo, hi);
    return hm_iq_apply_signs(kind, mag, signs);
}

#endif
#endif
