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

// Scores q.k for positions first..<n of F16 / Q8_0 keys: the query converted to the keys' type
// first (ggml's mul_mat converts src1 to src0's vec_dot_type), then ggml's vec_dot per row.
static void quantized_scores(const float *q, const uint8_t *keys, int32_t k_type, int64_t k_row_bytes, int64_t first,
                             int64_t n, int64_t head_dim, float scale, uint8_t *q_converted, float *scores) {
    const int simd = (hm_cpu_features() & 19) == 19;
    store_row(k_type, q, q_converted, head_dim);
    const void *rows = keys + first * k_row_bytes;
    const size_t q_bytes = k_type == HM_KV_F16 ? (size_t)head_dim * 2 : (size_t)(head_dim / 32) * HM_Q8_0_BYTES;
    if (k_type == HM_KV_F16 && simd && head_dim <= 512) {
        // The same ggml_vec_dot_f16 per row with the query converted once (kv_attention_x86.c).
        hm_kv_scores_f16(q_converted, keys, k_row_bytes, first, n, head_dim, scale, scores);
        return;
    }
    if (k_type == HM_KV_F16) {
        (simd ? hm_matmul_f16_f16 : hm_matmul_f16_f16_portable)(rows, (size_t)k_row_bytes, head_dim, n - first,
                                                                 q_converted, q_bytes, 1, scores + first, n);
    } else {
        (simd ? hm_matmul_q8_0_q8_0 : hm_matmul_q8_0_q8_0_portable)(rows, (size_t)k_row_bytes, head_dim, n - first,
                                                                     q_converted, q_bytes, 1, scores + first, n);
    }
    for (int64_t p = first; p < n; ++p) scores[p] *= scale;
}

// Attention of one query head as llama.cpp computes it without flash attention:
// kq = K q per position (ggml_vec_dot_f32 for F32 keys), soft_max_ext (scale, causal mask,
// ggml's exp in 16-lane chunks summed chunk by chunk in double), then kqv = V^T kq as a
// mul_mat: tinyBLAS (16 position lanes) for a batch of 2+ tokens, ggml_vec_dot (64 position
// slots) for one. F16 values meet the weights rounded to F16 (mul_mat converts kq to F16);
// Q8_0 values (llama.cpp takes them only with flash attention) are dequantized, q * d, and
// FMA'd with the F32 weights. Masked cache cells beyond `n` add exact zeros in llama.cpp, so
// leaving them out changes no bit as long as llama.cpp's padded KV length is a multiple of 64
// (it pads to 256).
HM_INL void attend_kv_body(const float *q, const uint8_t *keys, int32_t k_type, int64_t k_row_bytes,
                           const uint8_t *values, int32_t v_type, int64_t v_row_bytes, int64_t first, int64_t n,
                           int64_t head_dim, int64_t value_dim, float scale, int batched, const float *sink,
                           float *scores, float *acc, void *q_scratch, float *out) {
    // Positions before `first` (outside a sliding window) are masked: -inf scores, weight 0;
    // lanes stay assigned by absolute position.
    for (int64_t p = 0; p < first; ++p) scores[p] = 0.0f;
    if (k_type == HM_KV_F32) {
        for (int64_t p = first; p < n; ++p) scores[p] = dot_body((const float *)(keys + p * k_row_bytes), q, head_dim) * scale;
    } else {
        quantized_scores(q, keys, k_type, k_row_bytes, first, n, head_dim, scale, (uint8_t *)q_scratch, scores);
    }
    float m = -INFINITY;
    for (int64_t p = first; p < n; ++p) m = scores[p] > m ? scores[p] : m;
    // A sink joins the max (MAX(max, sink)) and, after the row's chunks, the sum (libm expf).
    if (sink) m = *sink > m ? *sink : m;
    double sum = 0;
    for (int64_t c = 0; c < n; c += 16) {
        float v[16];
        for (int l = 0; l < 16; ++l) {
            const int64_t p = c + l;
            v[l] = p >= first && p < n ? ggml_lane_expf(scores[p] - m) : 0.0f;
            if (p < n) scores[p] = v[l];
        }
        sum += (double)reduce16(v);
    }
    if (sink) sum += (double)expf(*sink - m);
    const float inv = (float)(1.0 / sum);
    for (int64_t p = first; p < n; ++p) scores[p] *= inv;
    const int slots = batched ? 16 : 64;
    memset(acc, 0, (size_t)slots * (size_t)value_dim * sizeof(float));
    if (v_type == HM_KV_F16 && (hm_cpu_features() & 19) == 19) {
        // The weights as mul_mat meets them (rounded to F16), then the rows' FMAs eight lanes
        // at a time (kv_attention_x86.c).
        for (int64_t p = first; p < n; ++p) scores[p] = fp16_to_fp32(fp32_to_fp16(scores[p]));
        hm_kv_accumulate_f16(values, v_row_bytes, scores, first, n, value_dim, slots, acc);
    } else for (int64_t p = first; p < n; ++p) {
        float *a = acc + (p % slots) * value_dim;
        const uint8_t *row = values + p * v_row_bytes;
        if (v_type == HM_KV_F32) {
            const float *vp = (const float *)row, w = scores[p];
            for (int64_t i = 0; i < value_dim; ++i) a[i] = fmaf(vp[i], w, a[i]);
        } else if (v_type == HM_KV_F16) {
            const float w = fp16_to_fp32(fp32_to_fp16(scores[p]));
            for (int64_t i = 0; i < value_dim; ++i) a[i] = fmaf(load_half(row + 2 * i), w, a[i]);
        } else {
            const float w = scores[p];
            for (int64_t b = 0; b < value_dim / 32; ++b) {
                const uint8_t *blk = row + HM_Q8_0_BYTES * b;
                const float d = load_half(blk);
                for (int j = 0; j < 32; ++j) a[32 * b + j] = fmaf((float)(int8_t)blk[2 + j] * d, w, a[32 * b + j]);
            }
        }
    }
    // The lane reduction row-wise over the value dims (same tree, vectorised across i).
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

void hm_attend_ggml_f32(const float *q, const float *keys, int64_t k_stride, const float *values, int64_t v_stride,
                        int64_t first, int64_t n, int64_t head_dim, int64_t value_dim, float scale, int32_t batched,
                        const float *sink, float *scores, float *acc, float *out) {
    hm_attend_ggml_kv(q, keys, HM_KV_F32, k_stride * 4, values, HM_KV_F32, v_stride * 4, first, n, head_dim, value_dim,
                      scale, batched, sink, scores, acc, NULL, out);
}
