// Plain-C K-quant dot products (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K against Q8_K) in the exact float
// order of llama.cpp's CPU backend on an AVX2 machine (this project's reference build, GCC
// -march=native): the portable kernels for CPUs without AVX2, and the reference loops the AVX2
// kernels (kquant_x86.c, kquant_more_x86.c) are tested against bit for bit.
//
// What ggml does, per kind (ggml-cpu/arch/x86/quants.c and repack.cpp):
// - Q4_K: on AVX2 llama.cpp repacks every Q4_K matrix with rows % 8 == 0 (q4_K_8x8) and its
//   gemv keeps one float chain per output: s = fma(float(isum_b), d_b * yd_b, s) and
//   m = fma(float(msum_b), dmin_b * yd_b, m) over the blocks b, result s - m; its gemm (dense
//   batches of 4+ tokens) steps the same chains once per 64-element quarter of each block.
// - Q2_K, Q3_K, Q5_K, Q6_K (ggml_vec_dot_*_q8_K): eight float lanes. Lane l holds, per block,
//   the int32 sum over the elements i with (i % 32) / 4 == l of scale * q * a (maddubs + madd
//   keep those four bytes per chunk together); each block adds fma(d * yd, float(lane), acc)
//   and the end is hsum_float_8's tree. Q2_K first adds its mins into the same lanes (lane l:
//   groups 2l, 2l+1), Q6_K subtracts 32 * scale * bsum of groups 2l, 2l+1 from lane l as an
//   integer, Q5_K sums its mins in one scalar fma chain added after the tree.
// Integer arithmetic is exact, so only the lane assignment and the float steps matter.
#include "block_kinds.h"
#include "portable_common.h"
#include <math.h>

#pragma clang fp contract(off)

// ggml's get_scale_min_k4 for all eight sub-blocks of a Q4_K/Q5_K block (q: the 12 bytes).
static inline void p_scales_k4(const uint8_t *q, int32_t sc[8], int32_t mn[8]) {
    for (int j = 0; j < 8; ++j) hm_k4_scale_min(q, j, &sc[j], &mn[j]);
}

enum { P_Q2_K, P_Q3_K, P_Q4_K, P_Q5_K, P_Q6_K };

// Element i (0..<256) of a block, as ggml's AVX2 code feeds it to maddubs: unsigned for Q2_K,
// Q4_K, Q5_K and Q6_K (Q6_K keeps its +32 bias), signed for Q3_K.
static inline int p_kq_value(int kind, const uint8_t *x, int i) {
    const int h = i / 128, j = (i % 128) / 32, l = i % 32;
    switch (kind) {
    case P_Q2_K: return (x[16 + 32 * h + l] >> (2 * j)) & 3;
    case P_Q3_K: return ((x[32 + 32 * h + l] >> (2 * j)) & 3) - (((x[l] >> (4 * h + j)) & 1) ? 0 : 4);
    case P_Q4_K: return (x[16 + 32 * (i / 64) + l] >> (4 * ((i / 32) & 1))) & 0xF;
    case P_Q5_K: return ((x[48 + 32 * (i / 64) + l] >> (4 * ((i / 32) & 1))) & 0xF) | (((x[16 + l] >> (i / 32)) & 1) << 4);
    default: return ((x[64 * h + 32 * (j & 1) + l] >> (4 * (j >> 1))) & 0xF) | (((x[128 + 32 * h + l] >> (2 * j)) & 3) << 4);
    }
}

// The integer scale of element i's group.
static inline int32_t p_kq_scale(int kind, const uint8_t *x, const int32_t sc8[8], int i) {
    switch (kind) {
    case P_Q2_K: return x[i / 16] & 0xF;
    case P_Q3_K: return hm_q3_K_scale(x + 96, i / 16);
    case P_Q6_K: return (int8_t)x[192 + i / 16];
    default: return sc8[i / 32];
    }
}

// The eight lane sums of one block (see the top of the file).
static inline void p_kq_lanes(int kind, const uint8_t *x, const int32_t sc8[8], const int8_t *q8, int32_t lane[8]) {
    for (int l = 0; l < 8; ++l) lane[l] = 0;
    for (int i = 0; i < 256; ++i) lane[(i % 32) / 4] += p_kq_scale(kind, x, sc8, i) * p_kq_value(kind, x, i) * q8[i];
}

static float p_dot_q4_K(const uint8_t *x, const uint8_t *y, int64_t nb) {
    float s = 0.0f, m = 0.0f;
    for (int64_t b = 0; b < nb; ++b, x += 144, y += 292) {
        int32_t sc[8], mn[8], lane[8];
        p_scales_k4(x + 4, sc, mn);
        p_kq_lanes(P_Q4_K, x, sc, (const int8_t *)(y + 4), lane);
        int32_t isum = 0, msum = 0;
        for (int l = 0; l < 8; ++l) isum += lane[l];
        for (int g = 0; g < 16; ++g) msum += mn[g / 2] * p_bsum(y, g);
        const float yd = p_f32(y);
        s = fmaf((float)isum, p_h2f(x) * yd, s);
        m = fmaf((float)msum, p_h2f(x + 2) * yd, m);
    }
    return s - m;
}

// The same dot in llama.cpp's q4_K_8x8 gemm order: one fma per 64-element quarter of a block
// (sub-blocks 2j and 2j + 1) into each chain, where the gemv takes one per block.
static float p_dot_q4_K_gemm(const uint8_t *x, const uint8_t *y, int64_t nb) {
    float s = 0.0f, m = 0.0f;
    for (int64_t b = 0; b < nb; ++b, x += 144, y += 292) {
        int32_t sc[8], mn[8];
        p_scales_k4(x + 4, sc, mn);
        const int8_t *q8 = (const int8_t *)(y + 4);
        const float yd = p_f32(y), d = p_h2f(x) * yd, dmin = p_h2f(x + 2) * yd;
        for (int j = 0; j < 4; ++j) {
            int32_t isum = 0, msum = 0;
            for (int i = 64 * j; i < 64 * j + 64; ++i) isum += p_kq_scale(P_Q4_K, x, sc, i) * p_kq_value(P_Q4_K, x, i) * q8[i];
            for (int g = 4 * j; g < 4 * j + 4; ++g) msum += mn[g / 2] * p_bsum(y, g);
            s = fmaf((float)isum, d, s);
            m = fmaf((float)msum, dmin, m);
        }
    }
    return s - m;
}

// ggml_vec_dot_q4_K_q8_K (matrices llama.cpp does not repack): lane l of the sums holds the
// elements with (i % 32) / 4 == l, lane l of the mins sub-blocks 2l and 2l + 1.
static float p_dot_q4_K_vec_dot(const uint8_t *x, const uint8_t *y, int64_t nb) {
    float acc[8] = {0}, macc[4] = {0};
    for (int64_t b = 0; b < nb; ++b, x += 144, y += 292) {
        int32_t sc[8], mn[8], lane[8];
        p_scales_k4(x + 4, sc, mn);
        p_kq_lanes(P_Q4_K, x, sc, (const int8_t *)(y + 4), lane);
        const float yd = p_f32(y), d = yd * p_h2f(x), dmin = -yd * p_h2f(x + 2);
        for (int l = 0; l < 8; ++l) acc[l] = fmaf(d, (float)lane[l], acc[l]);
        for (int l = 0; l < 4; ++l) {
            const int32_t m = mn[2 * l] * (p_bsum(y, 4 * l) + p_bsum(y, 4 * l + 1)) + mn[2 * l + 1] * (p_bsum(y, 4 * l + 2) + p_bsum(y, 4 * l + 3));
            macc[l] = fmaf(dmin, (float)m, macc[l]);
        }
    }
    return p_hsum8(acc) + ((macc[0] + macc[2]) + (macc[1] + macc[3]));
}

static float p_dot_q5_K(const uint8_t *x, const uint8_t *y, int64_t nb) {
    float acc[8] = {0}, summs = 0.0f;
    for (int64_t b = 0; b < nb; ++b, x += 176, y += 292) {
        int32_t sc[8], mn[8], lane[8];
        p_scales_k4(x + 4, sc, mn);
        p_kq_lanes(P_Q5_K, x, sc, (const int8_t *)(y + 4), lane);
        int32_t msum = 0;
        for (int g = 0; g < 16; ++g) msum += mn[g / 2] * p_bsum(y, g);
        const float yd = p_f32(y);
        const float d = yd * p_h2f(x), dmin = -(yd * p_h2f(x + 2));
        for (int l = 0; l < 8; ++l) acc[l] = fmaf(d, (float)lane[l], acc[l]);
        summs = fmaf(dmin, (float)msum, summs);
    }
    return p_hsum8(acc) + summs;
}

// Q2_K, Q3_K, Q6_K: lanes only.
static inline float p_dot_k16(const uint8_t *x, const uint8_t *y, int64_t nb, int kind) {
    const size_t xbytes = kind == P_Q2_K ? 84 : kind == P_Q3_K ? 110 : 210;
    float acc[8] = {0};
    for (int64_t b = 0; b < nb; ++b, x += xbytes, y += 292) {
        int32_t lane[8];
        p_kq_lanes(kind, x, NULL, (const int8_t *)(y + 4), lane);
        const float yd = p_f32(y);
        float d;
        if (kind == P_Q2_K) {
            const float dmin = -(yd * p_h2f(x + 82));
            for (int l = 0; l < 8; ++l) {
                const int32_t mins = (x[2 * l] >> 4) * p_bsum(y, 2 * l) + (x[2 * l + 1] >> 4) * p_bsum(y, 2 * l + 1);
                acc[l] = fmaf(dmin, (float)mins, acc[l]);
            }
            d = yd * p_h2f(x + 80);
        } else if (kind == P_Q3_K) {
            d = yd * p_h2f(x + 108);
        } else {
            for (int l = 0; l < 8; ++l) {
                lane[l] -= 32 * ((int8_t)x[192 + 2 * l] * p_bsum(y, 2 * l) + (int8_t)x[192 + 2 * l + 1] * p_bsum(y, 2 * l + 1));
            }
            d = yd * p_h2f(x + 208);
        }
        for (int l = 0; l < 8; ++l) acc[l] = fmaf(d, (float)lane[l], acc[l]);
    }
    return p_hsum8(acc);
}

static float p_dot_q2_K(const uint8_t *x, const uint8_t *y, int64_t nb) { return p_dot_k16(x, y, nb, P_Q2_K); }
static float p_dot_q3_K(const uint8_t *x, const uint8_t *y, int64_t nb) { return p_dot_k16(x, y, nb, P_Q3_K); }
static float p_dot_q6_K(const uint8_t *x, const uint8_t *y, int64_t nb) { return p_dot_k16(x, y, nb, P_Q6_K); }

P_MATMUL_DEF(hm_matmul_q2_K_q8_K_portable, p_dot_q2_K, 256)
P_MATMUL_DEF(hm_matmul_q3_K_q8_K_portable, p_dot_q3_K, 256)
P_MATMUL_DEF(hm_matmul_q4_K_q8_K_portable, p_dot_q4_K, 256)
P_MATMUL_DEF(hm_matmul_q4_K_q8_K_gemm_portable, p_dot_q4_K_gemm, 256)
P_MATMUL_DEF(hm_matmul_q4_K_q8_K_vec_dot_portable, p_dot_q4_K_vec_dot, 256)
P_MATMUL_DEF(hm_matmul_q5_K_q8_K_portable, p_dot_q5_K, 256)
P_MATMUL_DEF(hm_matmul_q6_K_q8_K_portable, p_dot_q6_K, 256)
