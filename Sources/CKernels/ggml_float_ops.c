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
#include "ggml_float_common.h"
#include "portable_common.h"

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


// F16 x F16 products (F16 weights; ggml converts the activations to F16 first) as ggml's
// AVX-512 build computes them: every half converts to float exactly, so only the order of the
// float FMAs and sums matters. ggml_vec_dot_f16: 4 accumulators of 16 lanes over steps of 64,
// dot_body's tree, the sum and the leftovers' float products in double.
HM_INL float f16_dot_body(const uint8_t *x, const uint8_t *y, int64_t n) {
    const int64_t np = n & ~(int64_t)63;
    double sum = 0;
    if (np > 0) {
        float acc[4][16];
        memset(acc, 0, sizeof acc);
        for (int64_t i = 0; i < np; i += 64) {
            for (int j = 0; j < 4; ++j) {
                for (int l = 0; l < 16; ++l) {
                    const int64_t e = 2 * (i + 16 * j + l);
                    acc[j][l] = fmaf(p_h2f(x + e), p_h2f(y + e), acc[j][l]);
                }
            }
        }
        float v[16];
        for (int l = 0; l < 16; ++l) {
            const float a = acc[0][l] + acc[2][l], b = acc[1][l] + acc[3][l];
            v[l] = a + b;
        }
        sum = (double)reduce16(v);
    }
    for (int64_t i = np; i < n; ++i) {
        const float product = p_h2f(x + 2 * i) * p_h2f(y + 2 * i);
        sum += (double)product;
    }
    return (float)sum;
}

// tinyBLAS<16> on F16 operands: one 16-lane FMA accumulator per output, then the reduce tree.
HM_INL float f16_tinyblas_dot_body(const uint8_t *x, const uint8_t *y, int64_t n) {
    float acc[16] = {0};
    for (int64_t l = 0; l < n; l += 16) {
        for (int j = 0; j < 16; ++j) acc[j] = fmaf(p_h2f(x + 2 * (l + j)), p_h2f(y + 2 * (l + j)), acc[j]);
    }
    return reduce16(acc);
}

HM_INL void matmul_f16_body(const void *w, size_t row_bytes, int64_t cols, int64_t rows, const void *act,
                            size_t act_bytes, int64_t tokens, float *out, int64_t out_stride, int gemm) {
    const int tiny = gemm && tokens >= 2 && cols % 16 == 0;
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t *wr = (const uint8_t *)w + r * row_bytes;
        for (int64_t t = 0; t < tokens; ++t) {
            const uint8_t *a = (const uint8_t *)act + t * act_bytes;
            out[r + t * out_stride] = tiny ? f16_tinyblas_dot_body(wr, a, cols) : f16_dot_body(wr, a, cols);
        }
    }
}

HM_DISPATCH_VOID(matmul_f16, (const void *w, size_t rb, int64_t cols, int64_t rows, const void *act, size_t ab,
                             int64_t tokens, float *out, int64_t os, int gemm),
                 (w, rb, cols, rows, act, ab, tokens, out, os, gemm))

HM_MATMUL_DECL(hm_matmul_f16_ggml_vec) {
    (hm_fast() ? matmul_f16_fast : matmul_f16_generic)(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, 0);
}
HM_MATMUL_DECL(hm_matmul_f16_ggml_gemm) {
    (hm_fast() ? matmul_f16_fast : matmul_f16_generic)(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, 1);
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
