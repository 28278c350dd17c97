// Float vector ops in the exact order and rounding of ggml's CPU backend as llama.cpp builds it
// on an AVX-512 machine (GCC, -march=native, -std=gnu: a*b+c contracts to one FMA). Where ggml's
// result depends on the instruction set, these follow its AVX-512 path, lane by lane, in plain
// C: the results are the same bits on every CPU, with or without AVX-512.
//
// Why: in a quantised model every matrix product is exact integer arithmetic, so any last-bit
// difference in a float op before an activation is quantised can move one value to the next
// quantisation step; in a recurrent (DeltaNet) layer that difference then lives on in the state.
#include "ckernels.h"
#include <math.h>
#include <string.h>

#define HM_FAST __attribute__((target("avx2,fma")))
#define HM_INL static inline __attribute__((always_inline))

// 2^e as a float, for e in [-126, 127].
HM_INL float pow2f(int e) {
    const uint32_t bits = (uint32_t)(e + 127) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// j * 2^n with one rounding, as _mm512_scalef_ps does; n integral, |n| <= 192. Outside the
// normal exponent range the scaling is split so that the first product is exact.
HM_INL float scale_pow2(float j, int n) {
    if (n < -126) return (j * pow2f(n + 100)) * pow2f(-100);
    if (n > 127) return (j * pow2f(n - 100)) * pow2f(100);
    return j * pow2f(n);
}

// ggml_v_expf, AVX-512 variant, one lane.
HM_INL float ggml_lane_expf(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    const float big = n <= 0 ? 0.0f : INFINITY;
    const float fn = fabsf(n) > 192 ? 0.0f : n;  // keeps the conversion defined for NaN and huge n
    const float res = scale_pow2(j, (int)fn);
    return fabsf(n) > 192 ? big : res;
}

// ggml_v_silu, one lane: x / (1 + e^(0 - x)).
HM_INL float ggml_lane_silu(float x) { return x / (1.0f + ggml_lane_expf(0.0f - x)); }

// ggml_silu_f32, the scalar tail.
HM_INL float ggml_scalar_silu(float x) { return x / (1.0f + expf(-x)); }

HM_INL void silu_body(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 15 < n; i += 16) {
        for (int l = 0; l < 16; ++l) y[i + l] = ggml_lane_silu(x[i + l]);
    }
    for (; i < n; ++i) y[i] = ggml_scalar_silu(x[i]);
}

HM_INL void swiglu_body(const float *x, const float *g, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 15 < n; i += 16) {
        for (int l = 0; l < 16; ++l) y[i + l] = ggml_lane_silu(x[i + l]) * g[i + l];
    }
    for (; i < n; ++i) y[i] = ggml_scalar_silu(x[i]) * g[i];
}

// _mm512_reduce_add_ps's tree over 16 lanes.
HM_INL float reduce16(const float *v) {
    float h8[8], h4[4];
    for (int l = 0; l < 8; ++l) h8[l] = v[8 + l] + v[l];
    for (int l = 0; l < 4; ++l) h4[l] = h8[4 + l] + h8[l];
    return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

// ggml_vec_dot_f32 (AVX-512: 4 accumulators of 16 lanes over steps of 64, a fixed reduction
// tree, then the leftovers added to the float sum).
HM_INL float dot_body(const float *x, const float *y, int64_t n) {
    const int64_t np = n & ~(int64_t)63;
    float sum = 0.0f;
    if (np > 0) {
        float acc[4][16];
        memset(acc, 0, sizeof acc);
        for (int64_t i = 0; i < np; i += 64) {
            for (int j = 0; j < 4; ++j) {
                for (int l = 0; l < 16; ++l) acc[j][l] = fmaf(x[i + 16 * j + l], y[i + 16 * j + l], acc[j][l]);
            }
        }
        float v[16];
        for (int l = 0; l < 16; ++l) {
            const float a = acc[0][l] + acc[2][l], b = acc[1][l] + acc[3][l];
            v[l] = a + b;
        }
        sum = reduce16(v);
    }
    // The leftovers are a separate multiply and add in llama.cpp's build (checked in its
    // disassembly: vmulss/vaddss); two statements keep clang from fusing them.
    for (int64_t i = np; i < n; ++i) {
        const float product = x[i] * y[i];
        sum += product;
    }
    return sum;
}

// ggml_vec_mad_f32: y += x * v, one FMA per element.
HM_INL void mad_body(float *y, const float *x, float v, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = fmaf(x[i], v, y[i]);
}

// ggml_compute_forward_ssm_conv_f32: per channel, taps FMA'd in order onto a float sum.
HM_INL void conv_body(const float *window, int64_t channels, int64_t tokens, int64_t kernel,
                      const float *taps, float *out) {
    for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t c = 0; c < channels; ++c) {
            float sum = 0.0f;
            for (int64_t j = 0; j < kernel; ++j) sum = fmaf(window[(t + j) * channels + c], taps[c * kernel + j], sum);
            out[t * channels + c] = sum;
        }
    }
}

static int hm_fast(void) {
    static int f = -1;
    if (f < 0) f = (hm_cpu_features() & 3) == 3;
    return f;
}

#define HM_DISPATCH_VOID(name, params, args) \
    HM_FAST static void name##_fast params { name##_body args; } \
    static void name##_generic params { name##_body args; }
#define HM_DISPATCH_FLOAT(name, params, args) \
    HM_FAST static float name##_fast params { return name##_body args; } \
    static float name##_generic params { return name##_body args; }

HM_DISPATCH_VOID(silu, (const float *x, float *y, int64_t n), (x, y, n))
HM_DISPATCH_VOID(swiglu, (const float *x, const float *g, float *y, int64_t n), (x, g, y, n))
HM_DISPATCH_FLOAT(dot, (const float *x, const float *y, int64_t n), (x, y, n))
HM_DISPATCH_VOID(mad, (float *y, const float *x, float v, int64_t n), (y, x, v, n))
HM_DISPATCH_VOID(conv, (const float *w, int64_t ch, int64_t t, int64_t k, const float *taps, float *out), (w, ch, t, k, taps, out))

void hm_ggml_silu_f32(const float *x, float *y, int64_t n) { hm_fast() ? silu_fast(x, y, n) : silu_generic(x, y, n); }
void hm_ggml_swiglu_f32(const float *x, const float *g, float *y, int64_t n) {
    hm_fast() ? swiglu_fast(x, g, y, n) : swiglu_generic(x, g, y, n);
}
float hm_ggml_dot_f32(const float *x, const float *y, int64_t n) { return hm_fast() ? dot_fast(x, y, n) : dot_generic(x, y, n); }
void hm_ggml_mad_f32(float *y, const float *x, float v, int64_t n) { hm_fast() ? mad_fast(y, x, v, n) : mad_generic(y, x, v, n); }
void hm_ggml_conv_f32(const float *window, int64_t channels, int64_t tokens, int64_t kernel, const float *taps, float *out) {
    hm_fast() ? conv_fast(window, channels, tokens, kernel, taps, out) : conv_generic(window, channels, tokens, kernel, taps, out);
}

// tinyBLAS (llamafile sgemm, AVX-512: KN = 16) for one output: 16 lanes FMA'd over steps of 16,
// then _mm512_reduce_add_ps's tree. ggml uses it for F32 x F32 matmuls of 2 or more tokens
// whose row length is a multiple of 16; otherwise ggml_vec_dot_f32.
HM_INL float tinyblas_dot_body(const float *x, const float *y, int64_t n) {
    float acc[16] = {0};
    for (int64_t l = 0; l < n; l += 16) {
        for (int j = 0; j < 16; ++j) acc[j] = fmaf(x[l + j], y[l + j], acc[j]);
    }
    return reduce16(acc);
}

HM_INL void matmul_f32_body(const void *w, size_t row_bytes, int64_t cols, int64_t rows, const void *act,
                            size_t act_bytes, int64_t tokens, float *out, int64_t out_stride, int gemm) {
    const int tiny = gemm && tokens >= 2 && cols % 16 == 0;
    for (int64_t r = 0; r < rows; ++r) {
        const float *wr = (const float *)((const uint8_t *)w + r * row_bytes);
        for (int64_t t = 0; t < tokens; ++t) {
            const float *a = (const float *)((const uint8_t *)act + t * act_bytes);
            out[r + t * out_stride] = tiny ? tinyblas_dot_body(wr, a, cols) : dot_body(wr, a, cols);
        }
    }
}

HM_DISPATCH_VOID(matmul_f32, (const void *w, size_t rb, int64_t cols, int64_t rows, const void *act, size_t ab,
                             int64_t tokens, float *out, int64_t os, int gemm),
                 (w, rb, cols, rows, act, ab, tokens, out, os, gemm))

HM_MATMUL_DECL(hm_matmul_f32_ggml_vec) {
    (hm_fast() ? matmul_f32_fast : matmul_f32_generic)(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, 0);
}
HM_MATMUL_DECL(hm_matmul_f32_ggml_gemm) {
    (hm_fast() ? matmul_f32_fast : matmul_f32_generic)(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, 1);
}


// Attention of one query head as llama.cpp computes it without flash attention (F32 cache):
// kq = ggml_vec_dot_f32(k, q) per position, soft_max_ext (scale, causal mask, ggml's exp in
// 16-lane chunks summed chunk by chunk in double), then kqv = V^T kq as a mul_mat: tinyBLAS
// (16 position lanes) for a batch of 2+ tokens, ggml_vec_dot_f32 (64 position slots) for one.
// Masked cache cells beyond `n` add exact zeros in llama.cpp, so leaving them out changes no
// bit as long as llama.cpp's padded KV length is a multiple of 64 (it pads to 256).
HM_INL void attend_ggml_body(const float *q, const float *keys, int64_t k_stride, const float *values,
                             int64_t v_stride, int64_t first, int64_t n, int64_t head_dim, int64_t value_dim,
                             float scale, int batched, const float *sink, float *scores, float *acc, float *out) {
    // Positions before `first` (outside a sliding window) are masked: -inf scores, weight 0;
    // lanes stay assigned by absolute position.
    float m = -INFINITY;
    for (int64_t p = 0; p < first; ++p) scores[p] = 0.0f;
    for (int64_t p = first; p < n; ++p) {
        const float s = dot_body(keys + p * k_stride, q, head_dim) * scale;
        scores[p] = s;
        if (s > m) m = s;
    }
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
    for (int64_t p = first; p < n; ++p) {
        float *a = acc + (p % slots) * value_dim;
        const float *vp = values + p * v_stride, w = scores[p];
        for (int64_t i = 0; i < value_dim; ++i) a[i] = fmaf(vp[i], w, a[i]);
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

HM_DISPATCH_VOID(attend_ggml, (const float *q, const float *k, int64_t ks, const float *v, int64_t vs, int64_t first,
                              int64_t n, int64_t hd, int64_t vd, float scale, int batched, const float *sink, float *sc,
                              float *acc, float *out),
                 (q, k, ks, v, vs, first, n, hd, vd, scale, batched, sink, sc, acc, out))

void hm_attend_ggml_f32(const float *q, const float *keys, int64_t k_stride, const float *values, int64_t v_stride,
                        int64_t first, int64_t n, int64_t head_dim, int64_t value_dim, float scale, int32_t batched,
                        const float *sink, float *scores, float *acc, float *out) {
    (hm_fast() ? attend_ggml_fast : attend_ggml_generic)(q, keys, k_stride, values, v_stride, first, n, head_dim, value_dim,
                                                         scale, batched, sink, scores, acc, out);
}

// ggml's soft_max over one row (no scale, no mask): max, then exp in 16-lane chunks (each
// chunk's sum added in double), libm expf for the tail, then one multiply by 1/sum.
HM_INL void softmax_body(float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
    double sum = 0;
    int64_t i = 0;
    for (; i + 15 < n; i += 16) {
        for (int l = 0; l < 16; ++l) x[i + l] = ggml_lane_expf(x[i + l] - m);
        sum += (double)reduce16(x + i);
    }
    for (; i < n; ++i) {
        x[i] = expf(x[i] - m);
        sum += (double)x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t k = 0; k < n; ++k) x[k] *= inv;
}
HM_DISPATCH_VOID(softmax, (float *x, int64_t n), (x, n))
void hm_ggml_softmax_f32(float *x, int64_t n) { hm_fast() ? softmax_fast(x, n) : softmax_generic(x, n); }
