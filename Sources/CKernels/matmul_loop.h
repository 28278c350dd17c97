// The rows-outer, tokens-inner driver of the kernels that compute one dot product per output.
// `per` is the element count one unit of the dot's length argument stands for (block size, or
// 1); `attr` is the target attribute (empty for the portable kernels).
#ifndef HOTMOE_MATMUL_LOOP_H
#define HOTMOE_MATMUL_LOOP_H
#include "ckernels.h"

#define HM_MATMUL_LOOP(attr, name, dot, per)                                              \
    attr HM_MATMUL_DECL(name) {                                                           \
        const uint8_t *wr = (const uint8_t *)w;                                           \
        const int64_t units = cols / (per);                                               \
        for (int64_t r = 0; r < rows; ++r, wr += row_bytes) {                             \
            const uint8_t *a = (const uint8_t *)act;                                      \
            for (int64_t t = 0; t < tokens; ++t, a += act_bytes) {                        \
                out[r + t * out_stride] = dot(wr, a, units);                              \
            }                                                                             \
        }                                                                                 \
    }

#endif
