// Portable float-type dot-product kernels for CPUs without AVX2 (aarch64, older x86-64): plain
// C loops the compiler can vectorise with whatever SIMD the target has (the K-quants are in
// kquant_portable.c, the 32-element block types in dot_portable_more.c).
#include "ckernels.h"
#include <string.h>

#pragma clang fp contract(off)

#include "portable_common.h"

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

P_MATMUL_DEF(hm_matmul_f16_f16_portable, p_dot_f16, 1)
P_MATMUL_DEF(hm_matmul_bf16_bf16_portable, p_dot_bf16, 1)
