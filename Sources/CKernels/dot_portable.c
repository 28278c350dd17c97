// Portable dot-product kernels for CPUs without AVX2 (aarch64, older x86-64): plain C loops the
// compiler can vectorise with whatever SIMD the target has. Each quantised kernel computes the
// same per-block integer sums and the same scalar float steps as DotReference.swift, so results
// are bit-identical to it; float contraction into FMA is disabled for that reason.
#include "ckernels.h"
#include <string.h>

#pragma clang fp contract(off)

#include "portable_common.h"

// ---- K-quants -------------------------------------------------------------------------------

// ggml's get_scale_min_k4 for all eight sub-blocks.
static inline void p_scales_k4(const uint8_t *q, int32_t sc[8], int32_t mn[8]) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            sc[j] = q[j] & 63;
            mn[j] = q[j + 4] & 63;
        } else {
            sc[j] = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            mn[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
}

static float p_dot_q45(const uint8_t *x, const uint8_t *y, int64_t nb, int five) {
    const size_t xbytes = five ? 176 : 144;
    float sum = 0.0f, sum_mins = 0.0f;
    for (int64_t i = 0; i < nb; ++i, x += xbytes, y += 292) {
        int32_t sc[8], mn[8];
        p_scales_k4(x + 4, sc, mn);
        const uint8_t *qs = x + (five ? 48 : 16), *qh = x + 16;
        const int8_t *q8 = (const int8_t *)(y + 4);
        int32_t isum = 0;
        for (int j = 0; j < 8; ++j) {
            // Sub-block j: nibble (j & 1) of bytes 32*(j/2)..; Q5_K's fifth bit is bit j of qh.
            const uint8_t *b = qs + 32 * (j / 2);
            const int shift = 4 * (j & 1);
            int32_t s = 0;
            for (int l = 0; l < 32; ++l) {
                int q = (b[l] >> shift) & 0xF;
                if (five) q |= ((qh[l] >> j) & 1) << 4;
                s += q * q8[32 * j + l];
            }
            isum += s * sc[j];
        }
        int32_t msum = 0;
        for (int g = 0; g < 16; ++g) msum += p_bsum(y, g) * mn[g / 2];
        const float yd = p_f32(y);
        const float d = yd * p_h2f(x), dmin = yd * p_h2f(x + 2);
        sum += d * (float)isum;
        sum_mins += dmin * (float)msum;
    }
    return sum - sum_mins;
}

static float p_dot_q4_K(const uint8_t *x, const uint8_t *y, int64_t nb) { return p_dot_q45(x, y, nb, 0); }
static float p_dot_q5_K(const uint8_t *x, const uint8_t *y, int64_t nb) { return p_dot_q45(x, y, nb, 1); }

static float p_dot_q6_K(const uint8_t *x, const uint8_t *y, int64_t nb) {
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i, x += 210, y += 292) {
        const int8_t *q8 = (const int8_t *)(y + 4);
        const int8_t *sc = (const int8_t *)(x + 192);
        int32_t isum = 0;
        for (int h = 0; h < 2; ++h) {
            for (int k = 0; k < 4; ++k) {
                // Quarter k of half h: low nibbles of ql (k < 2) or high ones, top bits at 2k in qh.
                const uint8_t *ql = x + 64 * h + 32 * (k & 1), *qh = x + 128 + 32 * h;
                const int shift = 4 * (k >> 1);
                const int8_t *a = q8 + 128 * h + 32 * k;
                int32_t s0 = 0, s1 = 0;
                for (int l = 0; l < 16; ++l) {
                    s0 += ((((ql[l] >> shift) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32) * a[l];
                }
                for (int l = 16; l < 32; ++l) {
                    s1 += ((((ql[l] >> shift) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32) * a[l];
                }
                const int g = 8 * h + 2 * k;
                isum += s0 * sc[g] + s1 * sc[g + 1];
            }
        }
        sum += (p_f32(y) * p_h2f(x + 208)) * (float)isum;
    }
    return sum;
}

// ---- float types ----------------------------------------------------------------------------

// Eight independent float lanes (vectorisable without reassociation), reduced in double.
#define P_FLOAT_DOT(name, esize, load)                                                   \
    static float name(const uint8_t *x, const uint8_t *y, int64_t n) {                    \
        float acc[8] = {0};                                                               \
        int64_t i = 0;                                                                    \
        for (; i + 8 <= n; i += 8) {                                                      \
            for (int k = 0; k < 8; ++k) acc[k] += load(x + (i + k) * esize) * load(y + (i + k) * esize); \
        }                                                                                 \
        double sum = 0;                                                                   \
        for (int k = 0; k < 8; ++k) sum += acc[k];                                        \
        for (; i < n; ++i) sum += (double)(load(x + i * esize) * load(y + i * esize));   \
        return (float)sum;                                                                \
    }

P_FLOAT_DOT(p_dot_f16, 2, p_h2f)
P_FLOAT_DOT(p_dot_bf16, 2, p_bf2f)

// ---- matmul drivers -------------------------------------------------------------------------

P_MATMUL_DEF(hm_matmul_q4_K_q8_K_portable, p_dot_q4_K, 256)
P_MATMUL_DEF(hm_matmul_q5_K_q8_K_portable, p_dot_q5_K, 256)
P_MATMUL_DEF(hm_matmul_q6_K_q8_K_portable, p_dot_q6_K, 256)
P_MATMUL_DEF(hm_matmul_f16_f16_portable, p_dot_f16, 1)
P_MATMUL_DEF(hm_matmul_bf16_bf16_portable, p_dot_bf16, 1)
