// Portable kernels of the 32-element block formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4)
// and of IQ4_XS (Q2_K, Q3_K: kquant_portable.c): the same integer sums and scalar float steps as DotReference.swift
// and DotReferenceMore.swift, so results are bit-identical to them.
#include "block_kinds.h"
#include "portable_common.h"

#pragma clang fp contract(off)

// The 32 integer weights of a block in element order (unsigned for Q4_1/Q5_1).
static inline void p_b32_values(int kind, const uint8_t *x, int8_t v[32]) {
    const uint8_t *qs = x + hm_b32_qs[kind];
    if (kind == HM_B32_Q8_0) {
        memcpy(v, qs, 32);
        return;
    }
    uint32_t qh = 0;
    if (kind == HM_B32_Q5_0) memcpy(&qh, x + 2, 4);
    if (kind == HM_B32_Q5_1) memcpy(&qh, x + 4, 4);
    for (int j = 0; j < 32; ++j) {
        const int n = j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4;
        const int q5 = n | (int)((qh >> j) & 1) << 4;
        switch (kind) {
        case HM_B32_Q4_0: v[j] = (int8_t)(n - 8); break;
        case HM_B32_Q4_1: v[j] = (int8_t)n; break;
        case HM_B32_Q5_0: v[j] = (int8_t)(q5 - 16); break;
        case HM_B32_Q5_1: v[j] = (int8_t)q5; break;
        case HM_B32_IQ4_NL: v[j] = hm_iq4nl_values[n]; break;
        default: v[j] = hm_mxfp4_values[n]; break;
        }
    }
}

static inline float p_dot_b32(const uint8_t *x, const uint8_t *y, int64_t nb, int kind) {
    const size_t xb = hm_b32_bytes[kind], yb = hm_b32_act_bytes(kind);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i, x += xb, y += yb) {
        int8_t v[32];
        p_b32_values(kind, x, v);
        const int8_t *qy = (const int8_t *)(y + hm_b32_act_qs(kind));
        int32_t s = 0;
        for (int l = 0; l < 32; ++l) s += v[l] * qy[l];
        if (hm_b32_has_min(kind)) {
            sum += p_h2f(x) * p_h2f(y) * (float)s + p_h2f(x + 2) * p_h2f(y + 2);
        } else {
            const float d = kind == HM_B32_MXFP4 ? hm_e8m0_half(x[0]) : p_h2f(x);
            sum += d * p_h2f(y) * (float)s;
        }
    }
    return sum;
}

// One specialised dot (`generic` at a constant kind) and its matmul per format.
#define P_KIND(name, generic, kind, per) \
    static float name(const uint8_t *x, const uint8_t *y, int64_t nb) { return generic(x, y, nb, kind); } \
    P_MATMUL_DEF(hm_matmul_##name##_portable, name, per)

P_KIND(q8_0_q8_0, p_dot_b32, HM_B32_Q8_0, 32)
P_KIND(q4_0_q8_0, p_dot_b32, HM_B32_Q4_0, 32)
P_KIND(q4_1_q8_1, p_dot_b32, HM_B32_Q4_1, 32)
P_KIND(q5_0_q8_0, p_dot_b32, HM_B32_Q5_0, 32)
P_KIND(q5_1_q8_1, p_dot_b32, HM_B32_Q5_1, 32)
P_KIND(iq4_nl_q8_0, p_dot_b32, HM_B32_IQ4_NL, 32)
P_KIND(mxfp4_q8_0, p_dot_b32, HM_B32_MXFP4, 32)

// ---- 256-element blocks with Q8_K activations ----------------------------------------------

// IQ4_XS (kind HM_K256_IQ4_XS).
static inline float p_dot_k256(const uint8_t *x, const uint8_t *y, int64_t nb, int kind) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b, x += hm_k256_bytes[kind], y += 292) {
        const int8_t *q8 = (const int8_t *)(y + 4);
        int32_t isum = 0;
        for (int g = 0; g < 16; ++g) {
            int32_t s = 0;
            for (int i = 16 * g; i < 16 * g + 16; ++i) {
                const uint8_t n = x[8 + 16 * (i / 32) + i % 16];
                s += hm_iq4nl_values[i % 32 < 16 ? n & 0xF : n >> 4] * q8[i];
            }
            isum += s * hm_iq4_xs_scale(x, g / 2);
        }
        sum += p_h2f(x) * p_f32(y) * (float)isum;
    }
    return sum;
}

P_KIND(iq4_xs_q8_K, p_dot_k256, HM_K256_IQ4_XS, 256)
