// KV-cache rows in F32, F16 or Q8_0 and one query head's attention over them, in llama.cpp's
// CPU arithmetic where that is cheap to follow. Rows are converted when written: F16 rounds to
// nearest even (GGML_FP32_TO_FP16), Q8_0 is ggml's x86 quantize_row_q8_0 (id = 127/amax, round
// to nearest even), which is what ggml's set_rows into the cache uses.
#include "ggml_float_common.h"
#include "portable_common.h"

enum { HM_Q8_0_BYTES = 34 };

HM_INL uint16_t fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return sign | 0x7c00 | (absx > 0x7f800000u ? (uint16_t)(0x200 | ((absx >> 13) & 0x3ff)) : 0);
    if (absx >= 0x477ff000u) return sign | 0x7c00;  // rounds to infinity
    if (absx < 0x38800000u) {
        // Subnormal half: units of 2^-24 (the scaling is exact), rounded to nearest even.
        float v;
        memcpy(&v, &absx, 4);
        return sign | (uint16_t)nearbyintf(v * 16777216.0f);
    }
    const uint32_t mant = absx & 0x7fffff, rem = mant & 0x1fff;
    uint32_t h = (((absx >> 23) - 112) << 10) | (mant >> 13);
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h += 1;  // a carry correctly bumps the exponent
    return sign | (uint16_t)h;
}

// The one F16 -> F32 conversion of the portable kernels (exact for every half).
HM_INL float fp16_to_fp32(uint16_t h) { return p_h2f((const uint8_t *)&h); }

HM_INL float load_half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return fp16_to_fp32(h);
}

// ggml x86 quantize_row_q8_0 for one block of 32.
HM_INL void quantize_q8_0_block(const float *x, uint8_t *y) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = fmaxf(amax, fabsf(x[j]));
    const uint16_t dh = fp32_to_fp16(amax / 127.0f);
    memcpy(y, &dh, 2);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < 32; ++j) {
        const float r = nearbyintf(x[j] * id);
        y[2 + j] = (uint8_t)(int8_t)(r > 127.0f ? 127.0f : r < -128.0f ? -128.0f : r);
    }
}

static void store_row(int32_t type, const float *x, uint8_t *dst, int64_t n) {
    if (type == HM_KV_F16) {
        for (int64_t i = 0; i < n; ++i) {
            const uint16_t h = fp32_to_fp16(x[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
    } else if (type == HM_KV_Q8_0) {
        for (int64_t b = 0; b < n / 32; ++b) quantize_q8_0_block(x + 32 * b, dst + HM_Q8_0_BYTES * b);
    } else {
        memcpy(dst, x, (size_t)n * sizeof(float));
    }
}

void hm_kv_store_row(int32_t type, const float *x, void *dst, int64_t n) { store_row(type, x, (uint8_t *)dst, n); }

void hm_kv_load_row(int32_t type, const void *src, float *y, int64_t n) {
    const uint8_t *s = (const uint8_t *)src;
    if (type == HM_KV_F16) {
        for (int64_t i = 0; i < n; ++i) y[i] = load_half(s + 2 * i);
    } else if (type == HM_KV_Q8_0) {
        for (int64_t i = 0; i < n; ++i) {
            const uint8_t *b = s + HM_Q8_0_BYTES * (i / 32);
            y[i] = (float)(int8_t)b[2 + i % 32] * load_half(b);  // dequantize_row_q8_0: q * d
        }
    } else {
        memcpy(y, s, (size_t)n * sizeof(float));
    }
}

// The query in the keys' type: ggml's mul_mat converts src1 to src0's vec_dot_type. F32 keys
// take the query as it is.
HM_INL void convert_query(int32_t k_type, const float *q, uint8_t *q_converted, int64_t head_dim) {
    if (k_type != HM_KV_F32) store_row(k_type, q, q_converted, head_dim);
}

// Scaled scores q.k of key rows lo..<hi into scores[lo..<hi]: ggml_vec_dot_f32 per row for F32
// keys, else ggml's vec_dot of the converted query with each F16 / Q8_0 row.
HM_INL void score_rows(const float *q, const uint8_t *q_converted, const uint8_t *keys, int32_t k_type,
                       int64_t k_row_bytes, int64_t lo, int64_t hi, int64_t head_dim, float scale, float *scores) {
    if (lo >= hi) return;
    if (k_type == HM_KV_F32) {
        for (int64_t p = lo; p < hi; ++p) scores[p] = dot_body((const float *)(keys + p * k_row_bytes), q, head_dim) * scale;
        return;
    }
    const int simd = (hm_cpu_features() & 19) == 19;
    if (k_type == HM_KV_F16 && simd && head_dim <= 512) {
        // The same ggml_vec_dot_f16 per row with the query widened once (kv_attention_x86.c).
        hm_kv_scores_f16(q_converted, keys, k_row_bytes, lo, hi, head_dim, scale, scores);
        return;
    }
    const void *rows = keys + lo * k_row_bytes;
    const size_t q_bytes = k_type == HM_KV_F16 ? (size_t)head_dim * 2 : (size_t)(head_dim / 32) * HM_Q8_0_BYTES;
    if (k_type == HM_KV_F16) {
        (simd ? hm_matmul_f16_f16 : hm_matmul_f16_f16_portable)(rows, (size_t)k_row_bytes, head_dim, hi - lo,
                                                                 q_converted, q_bytes, 1, scores + lo, hi - lo);
    } else {
        (simd ? hm_matmul_q8_0_q8_0 : hm_matmul_q8_0_q8_0_portable)(rows, (size_t)k_row_bytes, head_dim, hi - lo,
                                                                     q_converted, q_bytes, 1, scores + lo, hi - lo);
    }
    for (int64_t p = lo; p < hi; ++p) scores[p] *= scale;
}

// soft_max_ext over positions first..<n in place (causal mask, ggml's exp in 16-lane chunks
// summed chunk by chunk in double; lanes stay assigned by absolute position, masked lanes are
// 0). A sink joins the max (MAX(max, sink)) and, after the row's chunks, the sum (libm expf).
// `round_f16`: the weights as a mul_mat with F16 values meets them (kq converted to F16).
HM_INL void softmax_weights_portable(float *scores, int64_t first, int64_t n, const float *sink, int round_f16) {
    float m = -INFINITY;
    for (int64_t p = first; p < n; ++p) m = scores[p] > m ? scores[p] : m;
    if (sink) m = *sink > m ? *sink : m;
    double sum = 0;
    for (int64_t c = 0; c < n; c += 16) sum += (double)softmax_exp_chunk(scores, c, first, n, m);
    if (sink) sum += (double)expf(*sink - m);
    const float inv = (float)(1.0 / sum);
    for (int64_t p = first; p < n; ++p) scores[p] *= inv;
    if (round_f16) for (int64_t p = first; p < n; ++p) scores[p] = fp16_to_fp32(fp32_to_fp16(scores[p]));
}

HM_INL void softmax_weights(float *scores, int64_t first, int64_t n, const float *sink, int round_f16) {
    if ((hm_cpu_features() & 19) == 19) {
        hm_kv_softmax(scores, first, n, sink, round_f16);  // the same steps, eight lanes at a time (kv_attention_x86.c)
        return;
    }
    softmax_weights_portable(scores, first, n, sink, round_f16);
}

void hm_kv_softmax_portable(float *scores, int64_t first, int64_t n, const float *sink, int32_t round_f16) {
    softmax_weights_portable(scores, first, n, sink, round_f16);
}

// acc[(p % slots) * value_dim + i] += v[p][i] * w[p] for rows lo..<hi, one fused multiply-add
// per element: F16 rows widened exactly, Q8_0 rows dequantized (q * d; llama.cpp takes them
// only with flash attention).
HM_INL void accumulate_rows(const uint8_t *values, int32_t v_type, int64_t v_row_bytes, const float *weights, int64_t lo,
                            int64_t hi, int64_t value_dim, int slots, float *acc) {
    if (v_type == HM_KV_F16 && (hm_cpu_features() & 19) == 19) {
        hm_kv_accumulate_f16(values, v_row_bytes, weights, lo, hi, value_dim, slots, acc);
        return;
    }
    for (int64_t p = lo; p < hi; ++p) {
        float *a = acc + (p % slots) * value_dim;
        const uint8_t *row = values + p * v_row_bytes;
        const float w = weights[p];
        if (v_type == HM_KV_F32) {
            const float *vp = (const float *)row;
            for (int64_t i = 0; i < value_dim; ++i) a[i] = fmaf(vp[i], w, a[i]);
        } else if (v_type == HM_KV_F16) {
            for (int64_t i = 0; i < value_dim; ++i) a[i] = fmaf(load_half(row + 2 * i), w, a[i]);
        } else {
            for (int64_t b = 0; b < value_dim / 32; ++b) {
                const uint8_t *blk = row + HM_Q8_0_BYTES * b;
                const float d = load_half(blk);
                for (int j = 0; j < 32; ++j) a[32 * b + j] = fmaf((float)(int8_t)blk[2 + j] * d, w, a[32 * b + j]);
            }
        }
    }
}

// The mul_mat's lane reduction, row-wise over the value dims (same tree, vectorised across i):
// 64 slots fold to 16 for one token, then 16 -> 8 -> 4 -> out.
HM_INL void reduce_lanes(float *acc, int batched, int64_t value_dim, float *out) {
    if (!batched) {
        for (int l = 0; l < 16; ++l) {
            float *a = acc + l * value_dim;
            const float *b = acc + (32 + l) * value_dim, *c = acc + (16 + l) * value_dim, *d = acc + (48 + l) * value_dim;
            for (int64_t i = 0; i < value_dim; ++i) a[i] = (a[i] + b[i]) + (c[i] + d[i]);
        }
    }
    for (int l = 0; l < 8; ++l) {
        float *a = acc + l * value_dim;
        const float *b = acc + (8 + l) * value_dim;
        for (int64_t i = 0; i < value_dim; ++i) a[i] = b[i] + a[i];
    }
    for (int l = 0; l < 4; ++l) {
        float *a = acc + l * value_dim;
        const float *b = acc + (4 + l) * value_dim;
        for (int64_t i = 0; i < value_dim; ++i) a[i] = b[i] + a[i];
    }
    for (int64_t i = 0; i < value_dim; ++i) {
        out[i] = (acc[i] + acc[2 * value_dim + i]) + (acc[value_dim + i] + acc[3 * value_dim + i]);
    }
}

// Attention of one query head as llama.cpp computes it without flash attention: kq = K q per
// position, soft_max_ext, then kqv = V^T kq as a mul_mat: tinyBLAS (16 position lanes) for a
// batch of 2+ tokens, ggml_vec_dot (64 position slots) for one. Masked cache cells beyond `n`
// add exact zeros in llama.cpp, so leaving them out changes no bit as long as llama.cpp's
// padded KV length is a multiple of 64 (it pads to 256).
HM_INL void attend_kv_body(const float *q, const uint8_t *keys, int32_t k_type, int64_t k_row_bytes,
                           const uint8_t *values, int32_t v_type, int64_t v_row_bytes, int64_t first, int64_t n,
                           int64_t head_dim, int64_t value_dim, float scale, int batched, const float *sink,
                           float *scores, float *acc, void *q_scratch, float *out) {
    convert_query(k_type, q, (uint8_t *)q_scratch, head_dim);
    score_rows(q, (const uint8_t *)q_scratch, keys, k_type, k_row_bytes, first, n, head_dim, scale, scores);
    softmax_weights(scores, first, n, sink, v_type == HM_KV_F16);
    const int slots = batched ? 16 : 64;
    memset(acc, 0, (size_t)slots * (size_t)value_dim * sizeof(float));
    accumulate_rows(values, v_type, v_row_bytes, scores, first, n, value_dim, slots, acc);
    reduce_lanes(acc, batched, value_dim, out);
}

HM_DISPATCH_VOID(attend_kv, (const float *q, const uint8_t *k, int32_t kt, int64_t kb, const uint8_t *v, int32_t vt,
                             int64_t vb, int64_t first, int64_t n, int64_t hd, int64_t vd, float scale, int batched,
                             const float *sink, float *sc, float *acc, void *qs, float *out),
                 (q, k, kt, kb, v, vt, vb, first, n, hd, vd, scale, batched, sink, sc, acc, qs, out))

void hm_attend_ggml_kv(const float *q, const void *keys, int32_t k_type, int64_t k_row_bytes, const void *values,
                       int32_t v_type, int64_t v_row_bytes, int64_t first, int64_t n, int64_t head_dim,
                       int64_t value_dim, float scale, int32_t batched, const float *sink, float *scores, float *acc,
                       void *q_scratch, float *out) {
    (hm_fast() ? attend_kv_fast : attend_kv_generic)(q, (const uint8_t *)keys, k_type, k_row_bytes, (const uint8_t *)values,
                                                     v_type, v_row_bytes, first, n, head_dim, value_dim, scale, batched,
                                                     sink, scores, acc, q_scratch, out);
}

// attend_kv_body (batched) for several queries over the same KV head, step by step, each step
// walking the rows in blocks of HM_KV_TILE_ROWS with the queries inside: each row comes from
// memory once per tile instead of once per query, and F16 rows are widened once per block for
// all the queries (the widening is exact). Every query's products, softmax and lane sums are
// those of attend_kv_body in the same order (blocks ascend, so each lane still adds its
// positions in order), so the outputs are bit-identical to one call per query.
HM_INL void attend_tile_body(const hm_attention_query *queries, int32_t count, const uint8_t *keys, int32_t k_type,
                             int64_t k_row_bytes, const uint8_t *values, int32_t v_type, int64_t v_row_bytes,
                             int64_t head_dim, int64_t value_dim, float scale, float *scratch, int64_t row_floats,
                             int64_t acc_offset, int64_t query_offset, float *block) {
    const int simd = (hm_cpu_features() & 19) == 19;
    const int widen_keys = simd && k_type == HM_KV_F16 && head_dim % 8 == 0 && head_dim <= 512;
    const int widen_values = simd && v_type == HM_KV_F16;
    int64_t lo = INT64_MAX, hi = 0;
    for (int32_t i = 0; i < count; ++i) {
        lo = queries[i].first < lo ? queries[i].first : lo;
        hi = queries[i].n > hi ? queries[i].n : hi;
        convert_query(k_type, queries[i].q, (uint8_t *)(scratch + i * row_floats + query_offset), head_dim);
    }
    for (int64_t b = lo; b < hi; b += HM_KV_TILE_ROWS) {
        const int64_t end = b + HM_KV_TILE_ROWS < hi ? b + HM_KV_TILE_ROWS : hi;
        if (widen_keys) hm_kv_widen_f16(keys, k_row_bytes, b, end, head_dim, block);
        for (int32_t i = 0; i < count; ++i) {
            const hm_attention_query *qi = &queries[i];
            float *row = scratch + i * row_floats;
            const int64_t from = b > qi->first ? b : qi->first, to = end < qi->n ? end : qi->n;  // its rows in the block
            if (from >= to) continue;
            if (widen_keys) {
                hm_kv_scores_widened(row + query_offset, block, b, from, to, head_dim, scale, row);
            } else {
                score_rows(qi->q, (const uint8_t *)(row + query_offset), keys, k_type, k_row_bytes, from, to, head_dim, scale, row);
            }
        }
    }
    for (int32_t i = 0; i < count; ++i) {
        float *row = scratch + i * row_floats;
        softmax_weights(row, queries[i].first, queries[i].n, queries[i].sink, v_type == HM_KV_F16);
        memset(row + acc_offset, 0, (size_t)16 * (size_t)value_dim * sizeof(float));
    }
    for (int64_t b = lo; b < hi; b += HM_KV_TILE_ROWS) {
        const int64_t end = b + HM_KV_TILE_ROWS < hi ? b + HM_KV_TILE_ROWS : hi;
        if (widen_values) hm_kv_widen_f16(values, v_row_bytes, b, end, value_dim, block);
        for (int32_t i = 0; i < count; ++i) {
            const hm_attention_query *qi = &queries[i];
            float *row = scratch + i * row_floats;
            const int64_t from = b > qi->first ? b : qi->first, to = end < qi->n ? end : qi->n;  // its rows in the block
            if (from >= to) continue;
            if (widen_values) {
                hm_kv_accumulate_widened(block, b, row, from, to, value_dim, 16, row + acc_offset);
            } else {
                accumulate_rows(values, v_type, v_row_bytes, row, from, to, value_dim, 16, row + acc_offset);
            }
        }
    }
    for (int32_t i = 0; i < count; ++i) reduce_lanes(scratch + i * row_floats + acc_offset, 1, value_dim, queries[i].out);
}

HM_DISPATCH_VOID(attend_tile, (const hm_attention_query *qs, int32_t count, const uint8_t *k, int32_t kt, int64_t kb,
                               const uint8_t *v, int32_t vt, int64_t vb, int64_t hd, int64_t vd, float scale,
                               float *scratch, int64_t row_floats, int64_t acc_offset, int64_t query_offset, float *block),
                 (qs, count, k, kt, kb, v, vt, vb, hd, vd, scale, scratch, row_floats, acc_offset, query_offset, block))

void hm_attend_ggml_kv_tile(const hm_attention_query *queries, int32_t count, const void *keys, int32_t k_type,
                            int64_t k_row_bytes, const void *values, int32_t v_type, int64_t v_row_bytes,
                            int64_t head_dim, int64_t value_dim, float scale, float *scratch, int64_t row_floats,
                            int64_t acc_offset, int64_t query_offset, float *block) {
    (hm_fast() ? attend_tile_fast : attend_tile_generic)(queries, count, (const uint8_t *)keys, k_type, k_row_bytes,
                                                         (const uint8_t *)values, v_type, v_row_bytes, head_dim,
                                                         value_dim, scale, scratch, row_floats, acc_offset, query_offset,
                                                         block);
}

void hm_attend_ggml_f32(const float *q, const float *keys, int64_t k_stride, const float *values, int64_t v_stride,
                        int64_t first, int64_t n, int64_t head_dim, int64_t value_dim, float scale, int32_t batched,
                        const float *sink, float *scores, float *acc, float *out) {
    hm_attend_ggml_kv(q, keys, HM_KV_F32, k_stride * 4, values, HM_KV_F32, v_stride * 4, first, n, head_dim, value_dim,
                      scale, batched, sink, scores, acc, NULL, out);
}
