// Weight formats of the generic kernels: 32-element blocks with Q8_0/Q8_1 activations
// (dot_portable_more.c, dot_x86.c) and 256-element blocks with 8 sub-blocks of 32 and Q8_K
// activations (the same files, kquant_more_x86.c). The kind is a compile-time constant at every
// call, so each format gets its own specialised loop.
#ifndef HOTMOE_BLOCK_KINDS_H
#define HOTMOE_BLOCK_KINDS_H
#include <stdint.h>
#include <string.h>

enum { HM_B32_Q8_0, HM_B32_Q4_0, HM_B32_Q4_1, HM_B32_Q5_0, HM_B32_Q5_1, HM_B32_IQ4_NL, HM_B32_MXFP4 };
// Bytes per block, and the offset of the nibbles (or Q8_0's int8 quants), indexed by kind.
static const uint8_t hm_b32_bytes[] = {34, 18, 20, 22, 24, 18, 17};
static const uint8_t hm_b32_qs[] = {2, 2, 4, 6, 8, 2, 1};

// Q4_1/Q5_1: unsigned quants plus a per-block min, paired with Q8_1 activations
// (fp16 d, fp16 s = d * sum(q), 32 int8 quants; 36 bytes) instead of Q8_0 (fp16 d, 32 quants).
static inline int hm_b32_has_min(int kind) { return kind == HM_B32_Q4_1 || kind == HM_B32_Q5_1; }
static inline int hm_b32_act_bytes(int kind) { return hm_b32_has_min(kind) ? 36 : 34; }
static inline int hm_b32_act_qs(int kind) { return hm_b32_has_min(kind) ? 4 : 2; }

enum { HM_K256_Q2_K, HM_K256_Q3_K, HM_K256_IQ4_XS };
static const uint8_t hm_k256_bytes[] = {84, 110, 136};

// ggml's kvalues_iq4nl and kvalues_mxfp4 (E2M1 doubled).
static const int8_t hm_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
static const int8_t hm_mxfp4_values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// ggml's GGML_E8M0_TO_FP32_HALF: 2^(e - 128), exact (subnormal for e < 2).
static inline float hm_e8m0_half(uint8_t e) {
    const uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// The 6-bit scale of group g (0..<16) of a Q3_K block, bias 32 removed (sc: the 12 scale bytes).
static inline int hm_q3_K_scale(const uint8_t *sc, int g) {
    const int low = g < 8 ? sc[g] & 0xF : sc[g - 8] >> 4;
    return (low | (((sc[8 + g % 4] >> (2 * (g / 4))) & 3) << 4)) - 32;
}

// ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j (0..<8) of a Q4_K/Q5_K block
// (q: its 12 scale bytes).
static inline void hm_k4_scale_min(const uint8_t *q, int j, int32_t *scale, int32_t *min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// The 6-bit scale of sub-block ib (0..<8) of an IQ4_XS block, bias 32 removed.
static inline int hm_iq4_xs_scale(const uint8_t *x, int ib) {
    uint16_t h;
    memcpy(&h, x + 2, 2);
    return (((x[4 + ib / 2] >> (4 * (ib & 1))) & 0xF) | (((h >> (2 * ib)) & 3) << 4)) - 32;
}

#endif
