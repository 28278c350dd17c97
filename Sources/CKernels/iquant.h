// The grid ("i-quant") formats IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S and IQ1_M
// (ggml-common.h): every group of 4 or 8 weights is an index into a code book of small
// unsigned (IQ2/IQ3) or ternary (IQ1) vectors, plus sign bits (IQ2/IQ3) or a shared +-1/8
// shift (IQ1), times an odd integer scale per 16 or 32 weights and the block's fp16 d.
// All take Q8_K activations. Kernels: iquant_portable.c, iquant_x86.c; tables: iquant_grids.c.
#ifndef HOTMOE_IQUANT_H
#define HOTMOE_IQUANT_H
#include <stdint.h>
#include <string.h>

enum { HM_IQ2_XXS, HM_IQ2_XS, HM_IQ2_S, HM_IQ3_XXS, HM_IQ3_S, HM_IQ1_S, HM_IQ1_M };
// Bytes per block of 256, indexed by kind.
static const uint8_t hm_iq_bytes[] = {66, 74, 82, 98, 110, 50, 56};

// The code books, copied from ggml-common.h by tools/quant/gen_iq_grids.py. Grid entries are
// 8 (uint64) or 4 (uint32) bytes read in memory order: unsigned magnitudes for IQ2/IQ3, int8
// -1/0/1 for IQ1. ksigns_iq2xs maps 7 sign bits to 8 (the eighth makes the count of minus
// signs even); hm_iq2_even_signs spells each of those out as 8 int8 factors +-1.
extern const uint8_t hm_ksigns_iq2xs[128];
extern const uint64_t hm_iq2xxs_grid[256];
extern const uint64_t hm_iq2xs_grid[512];
extern const uint64_t hm_iq2s_grid[1024];
extern const uint32_t hm_iq3xxs_grid[256];
extern const uint32_t hm_iq3s_grid[512];
extern const uint64_t hm_iq1s_grid[2048];
extern const int8_t hm_iq2_even_signs[1024];

// IQ1_M keeps no d field: its fp16 scale is the top nibbles of the four uint16 scale words
// (bytes 48..55), lowest word first.
static inline uint16_t hm_iq1_m_d_bits(const uint8_t *x) {
    uint16_t sc[4];
    memcpy(sc, x + 48, 8);
    return (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
}

#endif
