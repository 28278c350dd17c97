// Helpers shared by the ggml-order float kernels (ggml_float_ops.c, kv_attention.c): ggml's
// AVX-512 exp, the 16-lane reduction tree and ggml_vec_dot_f32, emulated lane by lane.
#ifndef HOTMOE_GGML_FLOAT_COMMON_H
#define HOTMOE_GGML_FLOAT_COMMON_H
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

// _mm512_reduce_add_ps's tree over 16 lanes.
HM_INL float reduce16(const float *v) {
    float h8[8], h4[4];
    for (int l = 0; l < 8; ++l) h8[l] = v[8 + l] + v[l];
    for (int l = 0; l < 4; ++l) h4[l] = h8[4 + l] + h8[l];
    return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

// One 16-lane chunk of attention's softmax from position c: lanes in first..<n become
// ggml's exp(score - m), the others 0 (written back below n); returns their reduce16 sum.
HM_INL float softmax_exp_chunk(float *scores, int64_t c, int64_t first, int64_t n, float m) {
    float v[16];
    for (int l = 0; l < 16; ++l) {
        const int64_t p = c + l;
        v[l] = p >= first && p < n ? ggml_lane_expf(scores[p] - m) : 0.0f;
        if (p < n) scores[p] = v[l];
    }
    return reduce16(v);
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

static inline int hm_fast(void) {
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

#endif
