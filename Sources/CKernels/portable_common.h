// Helpers shared by the portable kernels (plain C, no target-specific code).
#ifndef HOTMOE_PORTABLE_COMMON_H
#define HOTMOE_PORTABLE_COMMON_H
#include "ckernels.h"
#include "matmul_loop.h"
#include <string.h>

static inline float p_h2f(const uint8_t *p) {
#if defined(__aarch64__)
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
#else
    uint16_t h;
    memcpy(&h, p, 2);
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        float v = (float)mant * 5.9604644775390625e-08f;  // subnormal: mant * 2^-24, exact
        memcpy(&bits, &v, 4);
        bits |= sign;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
#endif
}

static inline float p_bf2f(const uint8_t *p) {
    uint16_t b;
    memcpy(&b, p, 2);
    const uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float p_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

static inline int32_t p_bsum(const uint8_t *y, int g) {
    int16_t s;
    memcpy(&s, y + 260 + 2 * g, 2);
    return s;
}

// ggml's hsum_float_8 of eight float lanes: (l0 + l4) + (l2 + l6), then + ((l1 + l5) + (l3 + l7)).
// Additions only, so no fp contraction setting can change it.
static inline float p_hsum8(const float a[8]) {
    const float s0 = a[0] + a[4], s1 = a[1] + a[5], s2 = a[2] + a[6], s3 = a[3] + a[7];
    return (s0 + s2) + (s1 + s3);
}

// ---- matmul drivers ----

#define P_MATMUL_DEF(name, dot, per) HM_MATMUL_LOOP(, name, dot, per)

#endif
