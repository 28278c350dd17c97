#include "ckernels.h"

int hm_cpu_features(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    int f = 0;
    if (__builtin_cpu_supports("avx2")) f |= 1;
    if (__builtin_cpu_supports("fma")) f |= 2;
    if (__builtin_cpu_supports("avx512f")) f |= 4;
    if (__builtin_cpu_supports("avx512vnni")) f |= 8;
    if (__builtin_cpu_supports("f16c")) f |= 16;
    if (__builtin_cpu_supports("avx512vl")) f |= 32;
    return f;
#else
    return 0;
#endif
}
