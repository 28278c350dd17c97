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

// ggml_v_expf, AVX-512 variant, one lane.
HM_INL float ggml_lane_expf(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    if (fabsf(n) > 192) return n <= 0 ? 0.0f : INFINITY;
    return ldexpf(j, (int)n);  // _mm512_scalef_ps(j, n): n is integral here
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

// ggml_vec_dot_f32 (AVX-512: 4 accumulators of 16 lanes over steps of 64, a fixed reduction
// tree, then the leftovers FMA'd onto the float sum).
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
        // _mm512_reduce_add_ps: halves 256, 128, then pairs.
        float h8[8], h4[4];
        for (int l = 0; l < 8; ++l) h8[l] = v[8 + l] + v[l];
        for (int l = 0; l < 4; ++l) h4[l] = h8[4 + l] + h8[l];
        const float p0 = h4[0] + h4[2], p1 = h4[1] + h4[3];
        sum = p0 + p1;
    }
    for (int64_t i = np; i < n; ++i) sum = fmaf(x[i], y[i], sum);
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
