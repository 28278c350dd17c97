#ifndef HOTMOE_CKERNELS_H
#define HOTMOE_CKERNELS_H
#include <stdint.h>
#include <stddef.h>

/// Returns a bit set of the SIMD features found at run time (see ckernels.c).
int hm_cpu_features(void);

#endif
