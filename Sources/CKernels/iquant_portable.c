// Portable dot products of the grid formats (iquant.h) with Q8_K activations, in the float
// order of ggml's AVX2 kernels (ggml-cpu/arch/x86/quants.c, ggml_vec_dot_iq*_q8_K): the kernels
// for CPUs without AVX2 and the bit-exact reference of iquant_x86.c.
//
// Every one of ggml's kernels keeps eight int32 lanes per block; lane l holds the sum over the
// elements i with (i % 32) / 4 == l of scale * value * q8 (maddubs + madd keep four adjacent
// bytes together), and each block adds fma(d * yd, float(lane), acc[l]). The end is
// hsum_float_8's tree times a constant (1/8 for IQ2, 1/4 for IQ3_XXS, 1 for IQ3_S). IQ1_S and
// IQ1_M also sum their +-1/8 shifts: IQ1_S as one scalar integer per block in a scalar float
// chain, IQ1_M in a second set of lanes. Integer sums are exact, so only the lane assignment
// and the float steps matter.
#include "iquant.h"
#include "portable_common.h"
#include <math.h>

#pragma clang fp contract(off)

// Byte j of a grid entry, in memory order.
static inline uint8_t p_grid_byte(uint64_t entry, int j) { return (uint8_t)(entry >> (8 * j)); }

// Eight weights from an unsigned grid entry and a sign byte (bit j set: weight j negative).
static inline void p_signed8(int8_t *v, uint64_t entry, uint8_t signs) {
    for (int j = 0; j < 8; ++j) v[j] = (int8_t)((signs >> j & 1) ? -p_grid_byte(entry, j) : p_grid_byte(entry, j));
}

// One block as signed integer weights v[256], the odd scale of each group of 16 (sc[16]) and,
// for IQ1, each weight's shift sign (delta[256], +-1; the shift is delta / 8).
static void p_iq_decode(int kind, const uint8_t *x, int8_t v[256], int8_t delta[256], int16_t sc[16]) {
    const uint8_t *qs = x + 2;
    for (int ib = 0; ib < 8; ++ib) {
        int8_t *w = v + 32 * ib;
        int lo = 0, hi = 0;  // the 3- or 4-bit scales of the sub-block's two halves
        switch (kind) {
        case HM_IQ2_XXS: {
            uint32_t aux[2];
            memcpy(aux, qs + 8 * ib, 8);
            for (int l = 0; l < 4; ++l) p_signed8(w + 8 * l, hm_iq2xxs_grid[qs[8 * ib + l]], hm_ksigns_iq2xs[(aux[1] >> (7 * l)) & 127]);
            lo = hi = (int)(aux[1] >> 28);
            break;
        }
        case HM_IQ2_XS:
            for (int l = 0; l < 4; ++l) {
                uint16_t q;
                memcpy(&q, qs + 2 * (4 * ib + l), 2);
                p_signed8(w + 8 * l, hm_iq2xs_grid[q & 511], hm_ksigns_iq2xs[q >> 9]);
            }
            lo = x[66 + ib] & 0xF, hi = x[66 + ib] >> 4;
            break;
        case HM_IQ2_S:
            for (int l = 0; l < 4; ++l) {
                const int idx = qs[4 * ib + l] | ((x[66 + ib] << (8 - 2 * l)) & 0x300);
                p_signed8(w + 8 * l, hm_iq2s_grid[idx], qs[32 + 4 * ib + l]);
            }
            lo = x[74 + ib] & 0xF, hi = x[74 + ib] >> 4;
            break;
        case HM_IQ3_XXS: {
            uint32_t aux;
            memcpy(&aux, qs + 64 + 4 * ib, 4);
            for (int l = 0; l < 4; ++l) {
                const uint64_t pair = hm_iq3xxs_grid[qs[8 * ib + 2 * l]] | (uint64_t)hm_iq3xxs_grid[qs[8 * ib + 2 * l + 1]] << 32;
                p_signed8(w + 8 * l, pair, hm_ksigns_iq2xs[(aux >> (7 * l)) & 127]);
            }
            lo = hi = (int)(aux >> 28);
            break;
        }
        case HM_IQ3_S: {
            const uint8_t qh = x[66 + ib];
            for (int l = 0; l < 4; ++l) {
                const uint32_t g1 = hm_iq3s_grid[qs[8 * ib + 2 * l] | ((qh << (8 - 2 * l)) & 256)];
                const uint32_t g2 = hm_iq3s_grid[qs[8 * ib + 2 * l + 1] | ((qh << (7 - 2 * l)) & 256)];
                p_signed8(w + 8 * l, g1 | (uint64_t)g2 << 32, x[74 + 4 * ib + l]);
            }
            lo = hi = (x[106 + ib / 2] >> (4 * (ib & 1))) & 0xF;
            break;
        }
        case HM_IQ1_S: {
            uint16_t qh;
            memcpy(&qh, x + 34 + 2 * ib, 2);
            for (int l = 0; l < 4; ++l) {
                const uint64_t g = hm_iq1s_grid[qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)];
                for (int j = 0; j < 8; ++j) w[8 * l + j] = (int8_t)p_grid_byte(g, j);
            }
            memset(delta + 32 * ib, qh & 0x8000 ? -1 : 1, 32);
            lo = hi = (qh >> 12) & 7;
            break;
        }
        default: {  // HM_IQ1_M: no d field, so qs starts at byte 0
            const uint8_t *q = x + 4 * ib, *qh = x + 32 + 2 * ib;
            uint16_t s;
            memcpy(&s, x + 48 + 2 * (ib / 2), 2);
            for (int l = 0; l < 4; ++l) {
                const uint8_t h = qh[l / 2] >> (4 * (l & 1));
                const uint64_t g = hm_iq1s_grid[q[l] | ((h & 7) << 8)];
                for (int j = 0; j < 8; ++j) w[8 * l + j] = (int8_t)p_grid_byte(g, j);
                memset(delta + 32 * ib + 8 * l, h & 8 ? -1 : 1, 8);
            }
            lo = (s >> (6 * (ib & 1))) & 7, hi = (s >> (6 * (ib & 1) + 3)) & 7;
            break;
        }
        }
        sc[2 * ib] = (int16_t)(2 * lo + 1), sc[2 * ib + 1] = (int16_t)(2 * hi + 1);
    }
}

// Lane sums (see the top) of scale * value * q8 over one block.
static inline void p_iq_lanes(const int8_t *v, const int16_t sc[16], const int8_t *q8, int32_t lane[8]) {
    for (int l = 0; l < 8; ++l) lane[l] = 0;
    for (int i = 0; i < 256; ++i) lane[(i % 32) / 4] += sc[i / 16] * v[i] * q8[i];
}

// IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S.
static inline float p_dot_iq_signed(const uint8_t *x, const uint8_t *y, int64_t nb, int kind, float factor) {
    float acc[8] = {0};
    for (int64_t b = 0; b < nb; ++b, x += hm_iq_bytes[kind], y += 292) {
        int8_t v[256], delta[256];
        int16_t sc[16];
        int32_t lane[8];
        p_iq_decode(kind, x, v, delta, sc);
        p_iq_lanes(v, sc, (const int8_t *)(y + 4), lane);
        const float d = p_h2f(x) * p_f32(y);
        for (int l = 0; l < 8; ++l) acc[l] = fmaf(d, (float)lane[l], acc[l]);
    }
    return factor == 1.0f ? p_hsum8(acc) : factor * p_hsum8(acc);
}

// IQ1_S: the shifts' integer sum goes into one scalar chain per row; GCC contracts ggml's
// `accum1 += d * sumi1` and `hsum + IQ1S_DELTA * accum1` into fmas.
static float p_dot_iq1_s(const uint8_t *x, const uint8_t *y, int64_t nb) {
    float acc[8] = {0}, shifts = 0.0f;
    for (int64_t b = 0; b < nb; ++b, x += 50, y += 292) {
        int8_t v[256], delta[256];
        int16_t sc[16];
        int32_t lane[8], dlane[8];
        p_iq_decode(HM_IQ1_S, x, v, delta, sc);
        p_iq_lanes(v, sc, (const int8_t *)(y + 4), lane);
        p_iq_lanes(delta, sc, (const int8_t *)(y + 4), dlane);
        int32_t sumi = 0;
        for (int l = 0; l < 8; ++l) sumi += dlane[l];
        const float d = p_f32(y) * p_h2f(x);
        for (int l = 0; l < 8; ++l) acc[l] = fmaf(d, (float)lane[l], acc[l]);
        shifts = fmaf(d, (float)sumi, shifts);
    }
    return fmaf(0.125f, shifts, p_hsum8(acc));
}

// IQ1_M: the shifts in lanes of their own, a second accumulator.
static float p_dot_iq1_m(const uint8_t *x, const uint8_t *y, int64_t nb) {
    float acc[8] = {0}, dacc[8] = {0};
    for (int64_t b = 0; b < nb; ++b, x += 56, y += 292) {
        int8_t v[256], delta[256];
        int16_t sc[16];
        int32_t lane[8], dlane[8];
        p_iq_decode(HM_IQ1_M, x, v, delta, sc);
        p_iq_lanes(v, sc, (const int8_t *)(y + 4), lane);
        p_iq_lanes(delta, sc, (const int8_t *)(y + 4), dlane);
        const uint16_t bits = hm_iq1_m_d_bits(x);
        const float d = p_f32(y) * p_h2f((const uint8_t *)&bits);
        for (int l = 0; l < 8; ++l) acc[l] = fmaf(d, (float)lane[l], acc[l]), dacc[l] = fmaf(d, (float)dlane[l], dacc[l]);
    }
    return fmaf(0.125f, p_hsum8(dacc), p_hsum8(acc));
}

#define P_IQ(name, kind, factor) \
    static float p_dot_##name(const uint8_t *x, const uint8_t *y, int64_t nb) { return p_dot_iq_signed(x, y, nb, kind, factor); }
P_IQ(iq2_xxs, HM_IQ2_XXS, 0.125f)
P_IQ(iq2_xs, HM_IQ2_XS, 0.125f)
P_IQ(iq2_s, HM_IQ2_S, 0.125f)
P_IQ(iq3_xxs, HM_IQ3_XXS, 0.25f)
P_IQ(iq3_s, HM_IQ3_S, 1.0f)

P_MATMUL_DEF(hm_matmul_iq2_xxs_q8_K_portable, p_dot_iq2_xxs, 256)
P_MATMUL_DEF(hm_matmul_iq2_xs_q8_K_portable, p_dot_iq2_xs, 256)
P_MATMUL_DEF(hm_matmul_iq2_s_q8_K_portable, p_dot_iq2_s, 256)
P_MATMUL_DEF(hm_matmul_iq3_xxs_q8_K_portable, p_dot_iq3_xxs, 256)
P_MATMUL_DEF(hm_matmul_iq3_s_q8_K_portable, p_dot_iq3_s, 256)
P_MATMUL_DEF(hm_matmul_iq1_s_q8_K_portable, p_dot_iq1_s, 256)
P_MATMUL_DEF(hm_matmul_iq1_m_q8_K_portable, p_dot_iq1_m, 256)
