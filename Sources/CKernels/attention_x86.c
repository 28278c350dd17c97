// AVX2 attention for one query head over its KV head's cached positions (F32 cache):
// scores = scale * K q, softmax, out = V^T softmax. The Swift loop in Attention.swift is the
// reference; this differs from it only in float summation order and in expf (a Cephes-style
// polynomial, within 2 ulp of libm on the softmax's non-positive inputs).
#include "ckernels.h"
#include "x86_common.h"
#include <math.h>

#if defined(__x86_64__)

// e^x for x <= 0 (softmax inputs after subtracting the max); x below -87.3 gives 0.
HM_AVX2 HM_INLINE __m256 hm_exp_nonpositive(__m256 x) {
    const __m256 lowest = _mm256_set1_ps(-87.33654f);
    const __m256 underflow = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lowest);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

HM_AVX2 HM_INLINE __m256 hm_dot_acc(const float *q, const float *k, int64_t dim) {
    __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(k));
    for (int64_t d = 8; d < dim; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), acc);
    return acc;
}

HM_AVX2 void hm_attend_f32(const float *q, const float *keys, int64_t k_stride, const float *values,
                           int64_t v_stride, int64_t n, int64_t head_dim, int64_t value_dim, float scale,
                           float *scores, float *out) {
    // Scores, eight positions at a time: eight lane-wise partial dots reduced by a hadd tree.
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    const __m256 vscale = _mm256_set1_ps(scale);
    int64_t p = 0;
    for (; p + 8 <= n; p += 8) {
        const float *k = keys + p * k_stride;
        __m256 s[8];
        for (int j = 0; j < 8; ++j) s[j] = hm_dot_acc(q, k + j * k_stride, head_dim);
        const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(s[0], s[1]), _mm256_hadd_ps(s[2], s[3]));
        const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(s[4], s[5]), _mm256_hadd_ps(s[6], s[7]));
        const __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
        const __m256 scaled = _mm256_mul_ps(sum, vscale);
        _mm256_storeu_ps(scores + p, scaled);
        vmax = _mm256_max_ps(vmax, scaled);
    }
    __m128 hmax = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    hmax = _mm_max_ps(hmax, _mm_movehl_ps(hmax, hmax));
    float m = _mm_cvtss_f32(_mm_max_ss(hmax, _mm_movehdup_ps(hmax)));
    for (; p < n; ++p) {
        const float s = hm_hsum_f32x8(hm_dot_acc(q, keys + p * k_stride, head_dim)) * scale;
        scores[p] = s;
        if (s > m) m = s;
    }
    // Softmax numerators and their sum.
    const __m256 vm = _mm256_set1_ps(m);
    __m256 vsum = _mm256_setzero_ps();
    p = 0;
    for (; p + 8 <= n; p += 8) {
        const __m256 e = hm_exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(scores + p), vm));
        _mm256_storeu_ps(scores + p, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    double total = hm_hsum_f32x8(vsum);
    if (p < n) {
        float tail[8] = {0};
        for (int64_t i = p; i < n; ++i) tail[i - p] = scores[i] - m;
        float e[8];
        _mm256_storeu_ps(e, hm_exp_nonpositive(_mm256_loadu_ps(tail)));
        for (int64_t i = p; i < n; ++i) {
            scores[i] = e[i - p];
            total += e[i - p];
        }
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / total));
    // Weighted sum of values, 64 output dims (eight accumulators) per pass over the positions.
    for (int64_t d0 = 0; d0 < value_dim; d0 += 64) {
        const int64_t lanes = value_dim - d0 < 64 ? (value_dim - d0) / 8 : 8;
        __m256 acc[8];
        for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
        for (p = 0; p < n; ++p) {
            const __m256 w = _mm256_broadcast_ss(scores + p);
            const float *v = values + p * v_stride + d0;
            for (int j = 0; j < 8; ++j) {
                if (j < lanes) acc[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8 * j), acc[j]);
            }
        }
        for (int j = 0; j < lanes; ++j) _mm256_storeu_ps(out + d0 + 8 * j, _mm256_mul_ps(acc[j], inv));
    }
}

#else
void hm_attend_f32(const float *q, const float *keys, int64_t k_stride, const float *values,
                   int64_t v_stride, int64_t n, int64_t head_dim, int64_t value_dim, float scale,
                   float *scores, float *out) { __builtin_trap(); }
#endif
