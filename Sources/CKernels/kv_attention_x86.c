// AVX2 + F16C steps of kv_attention.c's decode and prompt attention over F16 KV rows. Each does
// exactly the arithmetic of the portable step it replaces (the same products, the same fused
// multiply-adds in the same order per output), only several lanes at a time, so results are
// bit-identical; kv_attention.c takes them when the CPU has the instructions.
#include <math.h>
#include "x86_common.h"
#include "ckernels.h"
#if defined(__x86_64__)

// For p in first..<n: acc[(p % slots) * value_dim + i] = fma(v[p][i], w[p], ...), the F16 row
// converted exactly and w the F16-rounded weight (what ggml's mul_mat of V^T and kq computes).
HM_AVX2 void hm_kv_accumulate_f16(const void *values, int64_t v_row_bytes, const float *weights, int64_t first, int64_t n,
                                  int64_t value_dim, int64_t slots, float *acc) {
    const uint8_t *rows = (const uint8_t *)values;
    for (int64_t p = first; p < n; ++p) {
        float *a = acc + (p % slots) * value_dim;
        const uint8_t *row = rows + p * v_row_bytes;
        const __m256 w = _mm256_set1_ps(weights[p]);
        int64_t i = 0;
        for (; i + 16 <= value_dim; i += 16) {
            const __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * i)));
            const __m256 v1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * i + 16)));
            _mm256_storeu_ps(a + i, _mm256_fmadd_ps(v0, w, _mm256_loadu_ps(a + i)));
            _mm256_storeu_ps(a + i + 8, _mm256_fmadd_ps(v1, w, _mm256_loadu_ps(a + i + 8)));
        }
        for (; i < value_dim; ++i) a[i] = fmaf(hm_h2f(row + 2 * i), weights[p], a[i]);
    }
}

// ggml_vec_dot_f16 (four 8-lane accumulators over 32-element steps, 8-element steps into the
// first, the tree sum in float then double, a scalar tail in double) of each key row
// first..<n with the F16 query, times `scale`: the query is converted once instead of per row.
HM_AVX2 void hm_kv_scores_f16(const void *query, const void *keys, int64_t k_row_bytes, int64_t first, int64_t n,
                              int64_t head_dim, float scale, float *scores) {
    enum { MAX_DIM = 512 };
    float q[MAX_DIM];
    const uint8_t *qh = (const uint8_t *)query;
    const int64_t vec = head_dim & ~(int64_t)7;
    for (int64_t i = 0; i < vec; i += 8) _mm256_storeu_ps(q + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(qh + 2 * i))));
    for (int64_t i = vec; i < head_dim; ++i) q[i] = hm_h2f(qh + 2 * i);
    const uint8_t *rows = (const uint8_t *)keys;
    for (int64_t p = first; p < n; ++p) {
        const uint8_t *x = rows + p * k_row_bytes;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 32 <= head_dim; i += 32) {
            a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * i))), _mm256_loadu_ps(q + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * i + 16))), _mm256_loadu_ps(q + i + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * i + 32))), _mm256_loadu_ps(q + i + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * i + 48))), _mm256_loadu_ps(q + i + 24), a3);
        }
        for (; i + 8 <= head_dim; i += 8) {
            a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * i))), _mm256_loadu_ps(q + i), a0);
        }
        double sum = hm_hsum_f32x8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; i < head_dim; ++i) sum += (double)(hm_h2f(x + 2 * i) * q[i]);
        scores[p] = (float)sum * scale;
    }
}

#else
void hm_kv_accumulate_f16(const void *values, int64_t v_row_bytes, const float *weights, int64_t first, int64_t n,
                          int64_t value_dim, int64_t slots, float *acc) { __builtin_trap(); }
void hm_kv_scores_f16(const void *query, const void *keys, int64_t k_row_bytes, int64_t first, int64_t n,
                      int64_t head_dim, float scale, float *scores) { __builtin_trap(); }
#endif
