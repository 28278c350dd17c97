// AVX2 + F16C steps of kv_attention.c's decode and prompt attention over F16 KV rows. Each does
// exactly the arithmetic of the portable step it replaces (the same products, the same fused
// multiply-adds in the same order per output), only several lanes at a time, so results are
// bit-identical; kv_attention.c takes them when the CPU has the instructions.
#include <math.h>
#include "x86_common.h"
#include "ckernels.h"
#include "ggml_float_common.h"
#if defined(__x86_64__)

// Rows ahead of the one being read that are asked for early: the rows of one head are strided
// by the whole KV row (all heads), which the hardware prefetchers follow poorly.
enum { HM_KV_PREFETCH_ROWS = 24 };

HM_AVX2 HM_INLINE void prefetch_row(const uint8_t *row, int64_t bytes) {
    for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch((const char *)(row + b), _MM_HINT_T0);
}

// Eight elements of a value / key row from element i: F16 widened (exact), or F32 as stored by
// hm_kv_widen_f16.
HM_AVX2 HM_INLINE __m256 load8(const uint8_t *row, int64_t i, int widened) {
    return widened ? _mm256_loadu_ps((const float *)row + i) : _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * i)));
}

// For p in first..<n: acc[(p % slots) * value_dim + i] = fma(v[p][i], w[p], ...), the F16 row
// converted exactly and w the F16-rounded weight (what ggml's mul_mat of V^T and kq computes).
HM_AVX2 void hm_kv_accumulate_f16(const void *values, int64_t v_row_bytes, const float *weights, int64_t first, int64_t n,
                                  int64_t value_dim, int64_t slots, float *acc) {
    const uint8_t *rows = (const uint8_t *)values;
    for (int64_t p = first; p < n; ++p) {
        float *a = acc + (p % slots) * value_dim;
        const uint8_t *row = rows + p * v_row_bytes;
        if (p + HM_KV_PREFETCH_ROWS < n) prefetch_row(row + HM_KV_PREFETCH_ROWS * v_row_bytes, 2 * value_dim);
        const __m256 w = _mm256_set1_ps(weights[p]);
        int64_t i = 0;
        for (; i + 16 <= value_dim; i += 16) {
            _mm256_storeu_ps(a + i, _mm256_fmadd_ps(load8(row, i, 0), w, _mm256_loadu_ps(a + i)));
            _mm256_storeu_ps(a + i + 8, _mm256_fmadd_ps(load8(row, i + 8, 0), w, _mm256_loadu_ps(a + i + 8)));
        }
        for (; i < value_dim; ++i) a[i] = fmaf(hm_h2f(row + 2 * i), weights[p], a[i]);
    }
}

// Rows lo..<hi of F16 rows as floats, row p at out + (p - lo) * dim (exact), for a tile's
// queries to share.
HM_AVX2 void hm_kv_widen_f16(const void *rows, int64_t row_bytes, int64_t lo, int64_t hi, int64_t dim, float *out) {
    const uint8_t *r = (const uint8_t *)rows;
    for (int64_t p = lo; p < hi; ++p) {
        const uint8_t *row = r + p * row_bytes;
        prefetch_row(row + HM_KV_PREFETCH_ROWS * row_bytes, 2 * dim);  // a hint: past the cache's end it is dropped
        float *o = out + (p - lo) * dim;
        int64_t i = 0;
        for (; i + 8 <= dim; i += 8) _mm256_storeu_ps(o + i, load8(row, i, 0));
        for (; i < dim; ++i) o[i] = hm_h2f(row + 2 * i);
    }
}

// hm_kv_accumulate_f16 over widened rows (row p at block + (p - base) * value_dim), slot by
// slot: a slot's accumulators stay in registers across its positions (p, p + slots, ...),
// which still come in ascending order, so every sum is the same chain of FMAs.
HM_AVX2 void hm_kv_accumulate_widened(const float *block, int64_t base, const float *weights, int64_t first, int64_t n,
                                      int64_t value_dim, int64_t slots, float *acc) {
    for (int64_t s = 0; s < slots && first + s < n; ++s) {
        const int64_t p0 = first + s;  // rows p0, p0 + slots, ... share slot p0 % slots
        float *a = acc + (p0 % slots) * value_dim;
        int64_t i = 0;
        for (; i + 32 <= value_dim; i += 32) {
            __m256 a0 = _mm256_loadu_ps(a + i), a1 = _mm256_loadu_ps(a + i + 8);
            __m256 a2 = _mm256_loadu_ps(a + i + 16), a3 = _mm256_loadu_ps(a + i + 24);
            for (int64_t p = p0; p < n; p += slots) {
                const float *row = block + (p - base) * value_dim + i;
                const __m256 w = _mm256_set1_ps(weights[p]);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row), w, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 8), w, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 16), w, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + 24), w, a3);
            }
            _mm256_storeu_ps(a + i, a0);
            _mm256_storeu_ps(a + i + 8, a1);
            _mm256_storeu_ps(a + i + 16, a2);
            _mm256_storeu_ps(a + i + 24, a3);
        }
        for (; i + 8 <= value_dim; i += 8) {
            __m256 a0 = _mm256_loadu_ps(a + i);
            for (int64_t p = p0; p < n; p += slots) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(block + (p - base) * value_dim + i), _mm256_set1_ps(weights[p]), a0);
            }
            _mm256_storeu_ps(a + i, a0);
        }
        for (; i < value_dim; ++i) {
            for (int64_t p = p0; p < n; p += slots) a[i] = fmaf(block[(p - base) * value_dim + i], weights[p], a[i]);
        }
    }
}

// hm_hsum_f32x8 of eight vectors at once: lane k is hm_hsum_f32x8(v[k]), the same adds in the
// same tree ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), with the vectors transposed on the way.
HM_AVX2 HM_INLINE __m256 hsum_f32x8_of_8(const __m256 *v) {
    __m256 x[4];
    for (int i = 0; i < 4; ++i) {
        x[i] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x20),
                             _mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x31));
    }
    const __m256 y0 = _mm256_add_ps(_mm256_shuffle_ps(x[0], x[1], 0x44), _mm256_shuffle_ps(x[0], x[1], 0xee));
    const __m256 y1 = _mm256_add_ps(_mm256_shuffle_ps(x[2], x[3], 0x44), _mm256_shuffle_ps(x[2], x[3], 0xee));
    const __m256 r = _mm256_add_ps(_mm256_shuffle_ps(y0, y1, 0x88), _mm256_shuffle_ps(y0, y1, 0xdd));
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// One key row's four ggml_vec_dot_f16 accumulators, folded (a0+a1)+(a2+a3); the 8-element
// steps after the 32-element ones go into the first.
HM_AVX2 HM_INLINE __m256 row_dot(const uint8_t *x, const float *q, int64_t head_dim, int widened) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= head_dim; i += 32) {
        a0 = _mm256_fmadd_ps(load8(x, i, widened), _mm256_loadu_ps(q + i), a0);
        a1 = _mm256_fmadd_ps(load8(x, i + 8, widened), _mm256_loadu_ps(q + i + 8), a1);
        a2 = _mm256_fmadd_ps(load8(x, i + 16, widened), _mm256_loadu_ps(q + i + 16), a2);
        a3 = _mm256_fmadd_ps(load8(x, i + 24, widened), _mm256_loadu_ps(q + i + 24), a3);
    }
    for (; i + 8 <= head_dim; i += 8) a0 = _mm256_fmadd_ps(load8(x, i, widened), _mm256_loadu_ps(q + i), a0);
    return _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
}

// ggml_vec_dot_f16 (four 8-lane accumulators over 32-element steps, 8-element steps into the
// first, the tree sum in float then double, a scalar tail in double) of each key row
// first..<n with the F16 query, times `scale`: the query is converted once instead of per row.
// Without a scalar tail (head_dim % 8 == 0) eight rows are summed together: (float)(double)
// of a float is the float, so the double step drops out. `widened`: the rows are floats from
// hm_kv_widen_f16 (no tail then).
HM_AVX2 HM_INLINE void scores_body(const void *query, const uint8_t *rows, int64_t k_row_bytes, int64_t first, int64_t n,
                                   int64_t head_dim, float scale, float *scores, int widened) {
    enum { MAX_DIM = 512 };
    float q[MAX_DIM];
    const uint8_t *qh = (const uint8_t *)query;
    const int64_t vec = head_dim & ~(int64_t)7;
    for (int64_t i = 0; i < vec; i += 8) _mm256_storeu_ps(q + i, load8(qh, i, 0));
    for (int64_t i = vec; i < head_dim; ++i) q[i] = hm_h2f(qh + 2 * i);
    int64_t p = first;
    if (vec == head_dim) {
        const __m256 scale8 = _mm256_set1_ps(scale);
        for (; p + 8 <= n; p += 8) {
            __m256 v[8];
            for (int r = 0; r < 8; ++r) {
                const uint8_t *x = rows + (p + r) * k_row_bytes;
                if (!widened && p + r + HM_KV_PREFETCH_ROWS < n) prefetch_row(x + HM_KV_PREFETCH_ROWS * k_row_bytes, 2 * head_dim);
                v[r] = row_dot(x, q, head_dim, widened);
            }
            _mm256_storeu_ps(scores + p, _mm256_mul_ps(hsum_f32x8_of_8(v), scale8));
        }
    }
    for (; p < n; ++p) {
        const uint8_t *x = rows + p * k_row_bytes;
        double sum = hm_hsum_f32x8(row_dot(x, q, head_dim, widened));
        for (int64_t i = vec; i < head_dim; ++i) sum += (double)(hm_h2f(x + 2 * i) * q[i]);
        scores[p] = (float)sum * scale;
    }
}

HM_AVX2 void hm_kv_scores_f16(const void *query, const void *keys, int64_t k_row_bytes, int64_t first, int64_t n,
                              int64_t head_dim, float scale, float *scores) {
    scores_body(query, (const uint8_t *)keys, k_row_bytes, first, n, head_dim, scale, scores, 0);
}

// hm_kv_scores_f16 over widened rows (row p at block + (p - base) * head_dim); head_dim % 8 == 0.
HM_AVX2 void hm_kv_scores_widened(const void *query, const float *block, int64_t base, int64_t first, int64_t n,
                                  int64_t head_dim, float scale, float *scores) {
    // Row p at rows + p * stride with rows = block - base rows, formed as an integer so no
    // out-of-range pointer is made.
    const uint8_t *rows = (const uint8_t *)((uintptr_t)block - (uintptr_t)(base * head_dim * 4));
    scores_body(query, rows, head_dim * 4, first, n, head_dim, scale, scores, 1);
}

// ggml_lane_expf on eight lanes: the same fused steps, and j * 2^n as one multiply by the
// exact power when every |n| <= 126 (scale_pow2's common case); otherwise lane by lane.
HM_AVX2 HM_INLINE __m256 lane_expf_x8(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    const __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    if (_mm256_movemask_ps(_mm256_cmp_ps(magnitude, _mm256_set1_ps(126.0f), _CMP_LE_OQ)) == 0xff) {
        const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
        return _mm256_mul_ps(j, _mm256_castsi256_ps(bits));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, x);
    for (int l = 0; l < 8; ++l) lanes[l] = ggml_lane_expf(lanes[l]);
    return _mm256_loadu_ps(lanes);
}

// reduce16 of lanes lo (0..7) and hi (8..15): ((h4[0]+h4[2]) + (h4[1]+h4[3])) over
// h4 = h8[4..7] + h8[0..3], h8 = hi + lo.
HM_AVX2 HM_INLINE float reduce16_x8(__m256 lo, __m256 hi) {
    const __m256 h8 = _mm256_add_ps(hi, lo);
    const __m128 h4 = _mm_add_ps(_mm256_extractf128_ps(h8, 1), _mm256_castps256_ps128(h8));
    const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
    return _mm_cvtss_f32(_mm_add_ss(h2, _mm_movehdup_ps(h2)));
}

// softmax_weights (kv_attention.c) eight lanes at a time, bit-identical: the max (a NaN score
// is skipped as the scalar compare skips it), ggml's exp per lane, the 16-lane chunks summed in
// double, the scaling and the F16 rounding (F16C rounds to nearest even, as fp32_to_fp16).
HM_AVX2 void hm_kv_softmax(float *scores, int64_t first, int64_t n, const float *sink, int32_t round_f16) {
    __m256 m8 = _mm256_set1_ps(-INFINITY);
    int64_t p = first;
    for (; p + 8 <= n; p += 8) m8 = _mm256_max_ps(_mm256_loadu_ps(scores + p), m8);
    float lanes[8], m = -INFINITY;
    _mm256_storeu_ps(lanes, m8);
    for (int l = 0; l < 8; ++l) m = lanes[l] > m ? lanes[l] : m;
    for (; p < n; ++p) m = scores[p] > m ? scores[p] : m;
    if (sink) m = *sink > m ? *sink : m;
    const __m256 mv = _mm256_set1_ps(m);
    double sum = 0;
    for (int64_t c = 0; c < n; c += 16) {
        if (c >= first && c + 16 <= n) {
            const __m256 lo = lane_expf_x8(_mm256_sub_ps(_mm256_loadu_ps(scores + c), mv));
            const __m256 hi = lane_expf_x8(_mm256_sub_ps(_mm256_loadu_ps(scores + c + 8), mv));
            _mm256_storeu_ps(scores + c, lo);
            _mm256_storeu_ps(scores + c + 8, hi);
            sum += (double)reduce16_x8(lo, hi);
            continue;
        }
        sum += (double)softmax_exp_chunk(scores, c, first, n, m);  // an edge chunk, lane by lane
    }
    if (sink) sum += (double)expf(*sink - m);
    const float inv = (float)(1.0 / sum);
    const __m256 inv8 = _mm256_set1_ps(inv);
    for (p = first; p + 8 <= n; p += 8) {
        __m256 w = _mm256_mul_ps(_mm256_loadu_ps(scores + p), inv8);
        if (round_f16) w = _mm256_cvtph_ps(_mm256_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        _mm256_storeu_ps(scores + p, w);
    }
    for (; p < n; ++p) {
        float w = scores[p] * inv;
        if (round_f16) w = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(w), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
        scores[p] = w;
    }
}

#else
void hm_kv_accumulate_f16(const void *values, int64_t v_row_bytes, const float *weights, int64_t first, int64_t n,
                          int64_t value_dim, int64_t slots, float *acc) { __builtin_trap(); }
void hm_kv_scores_f16(const void *query, const void *keys, int64_t k_row_bytes, int64_t first, int64_t n,
                      int64_t head_dim, float scale, float *scores) { __builtin_trap(); }
void hm_kv_softmax(float *scores, int64_t first, int64_t n, const float *sink, int32_t round_f16) { __builtin_trap(); }
void hm_kv_widen_f16(const void *rows, int64_t row_bytes, int64_t lo, int64_t hi, int64_t dim, float *out) { __builtin_trap(); }
void hm_kv_accumulate_widened(const float *block, int64_t base, const float *weights, int64_t first, int64_t n,
                              int64_t value_dim, int64_t slots, float *acc) { __builtin_trap(); }
void hm_kv_scores_widened(const void *query, const float *block, int64_t base, int64_t first, int64_t n,
                          int64_t head_dim, float scale, float *scores) { __builtin_trap(); }
#endif
