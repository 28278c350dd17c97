// AVX2 kernels of Q2_K, Q3_K and IQ4_XS with Q8_K activations. Q2_K and Q3_K follow ggml's
// AVX2 kernels instruction for instruction (kquant_portable.c is their bit-exact reference);
// IQ4_XS differs from dot_portable_more.c and the Swift reference in float summation order only.
#include "ckernels.h"
#include "x86_common.h"
#include "block_kinds.h"
#include "matmul_loop.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)

// IQ4_XS: each block is 8 sub-blocks of 32 elements with one integer scale each; the integer
// sums times the scales are exact, the float order is its own (not matched to ggml).
HM_AVX2 static float hm_dot_iq4_xs_q8_K(const uint8_t *x, const uint8_t *y, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, x += hm_k256_bytes[HM_K256_IQ4_XS], y += HM_Q8_K) {
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 8; ++c) {
            const __m256i w = _mm256_shuffle_epi8(hm_codebook(hm_iq4nl_values), hm_nibbles32(x + 8 + 16 * c));
            const __m256i p = hm_dot_i8x32(w, hm_loadu(y + 4 + 32 * c));
            sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p, _mm256_set1_epi32(hm_iq4_xs_scale(x, c))));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(hm_h2f(x) * hm_load_f32(y)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hm_hsum_f32x8(acc);
}
HM_MATMUL_LOOP(HM_AVX2, hm_matmul_iq4_xs_q8_K, hm_dot_iq4_xs_q8_K, 256)

// The shuffle that spreads int16 scales 2j (bytes 0-15 of a chunk) and 2j + 1 (bytes 16-31)
// over the chunk's pairs: ggml's get_scale_shuffle_q3k(j).
HM_AVX2 HM_INLINE __m256i hm_scale_pick(int j) {
    const __m128i lo = _mm_set1_epi16((short)(((4 * j + 1) << 8) | (4 * j)));
    const __m128i hi = _mm_set1_epi16((short)(((4 * j + 3) << 8) | (4 * j + 2)));
    return _mm256_set_m128i(hi, lo);
}

// Q2_K as ggml_vec_dot_q2_K_q8_K computes it, instruction for instruction: one 32-byte load
// of quants serves four chunks and the int16 scales are multiplied in by madd (no 32-bit
// multiplies). Same lanes and float steps as the portable twin.
HM_AVX2 static float hm_dot_q2_K_q8_K(const uint8_t *x, const uint8_t *y, int64_t nb) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, x += 84, y += HM_Q8_K) {
        const float yd = hm_load_f32(y);
        const __m128i sm = _mm_loadu_si128((const __m128i *)x);
        const __m256i mins = _mm256_cvtepi8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), m4));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(-(yd * hm_h2f(x + 82))), _mm256_cvtepi32_ps(_mm256_madd_epi16(mins, hm_loadu(y + 260))), acc);
        const __m256i all = _mm256_cvtepi8_epi16(_mm_and_si128(sm, m4));
        const __m128i lo = _mm256_castsi256_si128(all), hi = _mm256_extracti128_si256(all, 1);
        const __m256i scales[2] = {_mm256_set_m128i(lo, lo), _mm256_set_m128i(hi, hi)};
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i bits = hm_loadu(x + 16 + 32 * h);
            const uint8_t *q8 = y + 4 + 128 * h;
            __m256i p[4];
            for (int j = 0; j < 4; ++j) {
                const __m256i q2 = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * j), m3);
                p[j] = _mm256_madd_epi16(_mm256_shuffle_epi8(scales[h], hm_scale_pick(j)), _mm256_maddubs_epi16(q2, hm_loadu(q8 + 32 * j)));
            }
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p[0], p[1]), _mm256_add_epi32(p[2], p[3])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(yd * hm_h2f(x + 80)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hm_hsum_f32x8(acc);
}
HM_MATMUL_LOOP(HM_AVX2, hm_matmul_q2_K_q8_K, hm_dot_q2_K_q8_K, 256)

// Q3_K as ggml_vec_dot_q3_K_q8_K computes it: the 2 low bits and the "minus 4 where the high
// bit is clear" part go through maddubs separately and are subtracted as int16, the scales
// (6-bit, minus 32) multiply in by madd. Same lanes and float steps as the portable twin.
HM_AVX2 static float hm_dot_q3_K_q8_K(const uint8_t *x, const uint8_t *y, int64_t nb) {
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, x += 110, y += HM_Q8_K) {
        uint32_t aux[3];
        memcpy(aux, x + 96, 12);
        const __m128i sc8 = _mm_sub_epi8(_mm_set_epi32((int)(((aux[1] >> 4) & kmask2) | (((aux[2] >> 6) & kmask1) << 4)),
                                                       (int)(((aux[0] >> 4) & kmask2) | (((aux[2] >> 4) & kmask1) << 4)),
                                                       (int)((aux[1] & kmask2) | (((aux[2] >> 2) & kmask1) << 4)),
                                                       (int)((aux[0] & kmask2) | (((aux[2] >> 0) & kmask1) << 4))),
                                         _mm_set1_epi8(32));
        const __m256i all = _mm256_cvtepi8_epi16(sc8);
        const __m128i lo = _mm256_castsi256_si128(all), hi = _mm256_extracti128_si256(all, 1);
        const __m256i scales[2] = {_mm256_set_m128i(lo, lo), _mm256_set_m128i(hi, hi)};
        const __m256i hbits = hm_loadu(x);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i bits = hm_loadu(x + 32 + 32 * h);
            const uint8_t *q8 = y + 4 + 128 * h;
            __m256i p[4];
            for (int j = 0; j < 4; ++j) {
                const int bit = 4 * h + j;
                const __m128i shift = _mm_cvtsi32_si128(bit);
                const __m256i low = _mm256_and_si256(_mm256_srl_epi16(bits, _mm_cvtsi32_si128(2 * j)), m3);
                const __m256i high = _mm256_slli_epi16(_mm256_srl_epi16(_mm256_andnot_si256(hbits, _mm256_sll_epi16(one, shift)), shift), 2);
                const __m256i a = hm_loadu(q8 + 32 * j);
                const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(low, a), _mm256_maddubs_epi16(high, a));
                p[j] = _mm256_madd_epi16(_mm256_shuffle_epi8(scales[h], hm_scale_pick(j)), p16);
            }
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p[0], p[1]), _mm256_add_epi32(p[2], p[3])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(hm_h2f(x + 108) * hm_load_f32(y)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hm_hsum_f32x8(acc);
}
HM_MATMUL_LOOP(HM_AVX2, hm_matmul_q3_K_q8_K, hm_dot_q3_K_q8_K, 256)

#else  // not x86-64: never dispatched to (hm_cpu_features() returns 0).
HM_MATMUL_DECL(hm_matmul_q2_K_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q3_K_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq4_xs_q8_K) { __builtin_trap(); }
#endif
