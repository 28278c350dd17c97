// AVX2 activation quantisers and float-to-half conversion. Each one produces exactly the bytes
// its Swift reference twin (Quantize.swift) produces; the tests compare them byte for byte.
#include "ckernels.h"
#include "x86_common.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)

// Packs four vectors of 8 int32 into 32 int8 in element order (signed saturation).
HM_AVX2 HM_INLINE __m256i hm_pack_i32_to_i8(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
    const __m256i p01 = _mm256_packs_epi32(i0, i1);
    const __m256i p23 = _mm256_packs_epi32(i2, i3);
    const __m256i p = _mm256_packs_epi16(p01, p23);
    // The packs work per 128-bit lane; restore element order.
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

HM_AVX2 HM_INLINE float hm_hmax_f32x8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

HM_AVX2 void hm_quantize_q8_K(const float *x, void *vy, int64_t k) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    uint8_t *y = (uint8_t *)vy;
    for (int64_t b = 0; b < k / 256; ++b, x += 256, y += HM_Q8_K) {
        __m256 vmax = _mm256_setzero_ps();
        for (int i = 0; i < 256; i += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
        const float amax = hm_hmax_f32x8(vmax);
        if (amax == 0.0f) {
            memset(y, 0, HM_Q8_K);
            continue;
        }
        // ggml keeps the signed value of the *first* element of largest magnitude.
        const __m256 vam = _mm256_set1_ps(amax);
        int idx = 0;
        for (int i = 0; i < 256; i += 8) {
            const __m256 eq = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), vam, _CMP_EQ_OQ);
            const int m = _mm256_movemask_ps(eq);
            if (m) {
                idx = i + __builtin_ctz((unsigned)m);
                break;
            }
        }
        const float iscale = -127.f / x[idx];
        const __m256 mul = _mm256_set1_ps(iscale);
        int8_t *qs = (int8_t *)(y + 4);
        for (int i = 0; i < 256; i += 32) {
            // cvtps rounds to nearest even under the default MXCSR, like ggml's nearest_int.
            const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(mul, _mm256_loadu_ps(x + i)));
            const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(mul, _mm256_loadu_ps(x + i + 8)));
            const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(mul, _mm256_loadu_ps(x + i + 16)));
            const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(mul, _mm256_loadu_ps(x + i + 24)));
            const __m256i q = hm_pack_i32_to_i8(i0, i1, i2, i3);
            _mm256_storeu_si256((__m256i *)(qs + i), q);
            // Group sums via SAD on the values biased to unsigned: each 8-byte SAD lane is
            // sum(q) + 8*128.
            const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)),
                                                _mm256_setzero_si256());
            int64_t l[4];
            _mm256_storeu_si256((__m256i *)l, sad);
            const int16_t s0 = (int16_t)(l[0] + l[1] - 2048), s1 = (int16_t)(l[2] + l[3] - 2048);
            memcpy(y + 260 + 2 * (i / 16), &s0, 2);
            memcpy(y + 260 + 2 * (i / 16 + 1), &s1, 2);
        }
        const float d = 1.0f / iscale;
        memcpy(y, &d, 4);
    }
}

HM_AVX2 void hm_quantize_q8_0_x86(const float *x, void *vy, int64_t k) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    uint8_t *y = (uint8_t *)vy;
    for (int64_t b = 0; b < k / 32; ++b, x += 32, y += HM_Q8_0) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
        m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        const float amax = hm_hmax_f32x8(m);
        const float d = amax / 127.f;
        const uint16_t dh = _cvtss_sh(d, 0);
        memcpy(y, &dh, 2);
        const __m256 mul = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
        const __m256i q = hm_pack_i32_to_i8(
            _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)),
            _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)),
            _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)),
            _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
        _mm256_storeu_si256((__m256i *)(y + 2), q);
    }
}

HM_AVX2 void hm_fp32_to_fp16(const float *x, void *vy, int64_t n) {
    uint8_t *y = (uint8_t *)vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *)(y + 2 * i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), 0));
    }
    for (; i < n; ++i) {
        const uint16_t h = _cvtss_sh(x[i], 0);
        memcpy(y + 2 * i, &h, 2);
    }
}

#else  // not x86-64: never dispatched to.
void hm_quantize_q8_K(const float *x, void *y, int64_t k) { __builtin_trap(); }
void hm_quantize_q8_0_x86(const float *x, void *y, int64_t k) { __builtin_trap(); }
void hm_fp32_to_fp16(const float *x, void *y, int64_t n) { __builtin_trap(); }
#endif
