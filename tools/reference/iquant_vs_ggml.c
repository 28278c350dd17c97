// hotmoe's grid-format dot products (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M with
// Q8_K activations) against llama.cpp's ggml_vec_dot_iq*_q8_K, bit for bit, on fresh random
// inputs: weights both as random blocks (every grid index, sign and scale; finite random fp16
// scales) and as ggml's own quantisation (quantize_iq*, importance matrix of ones) of Gaussian
// rows; activations by ggml's quantize_row_q8_K.
// Build and run: tools/reference/kquant-vs-ggml.sh [seed]. Not part of CI (needs llama.cpp).
#include "ckernels.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VEC_DOT(t) void ggml_vec_dot_##t##_q8_K(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);
#define QUANT(t) size_t quantize_##t(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
VEC_DOT(iq2_xxs) VEC_DOT(iq2_xs) VEC_DOT(iq2_s) VEC_DOT(iq3_xxs) VEC_DOT(iq3_s) VEC_DOT(iq1_s) VEC_DOT(iq1_m)
QUANT(iq2_xxs) QUANT(iq2_xs) QUANT(iq2_s) QUANT(iq3_xxs) QUANT(iq3_s) QUANT(iq1_s) QUANT(iq1_m)
void quantize_row_q8_K(const float *x, void *y, int64_t k);
void ggml_cpu_init(void);
void ggml_quantize_init(int type);

typedef void (*vec_dot_fn)(int, float *, size_t, const void *, size_t, const void *, size_t, int);
typedef size_t (*quantize_fn)(const float *, void *, int64_t, int64_t, const float *);
typedef void (*matmul_fn)(const void *, size_t, int64_t, int64_t, const void *, size_t, int64_t, float *, int64_t);

static uint64_t rng_state;
static uint64_t next(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}
static double uniform(void) { return ((next() >> 11) + 0.5) / 9007199254740992.0; }
static void fill(float *x, int64_t n) {
    const double scale = pow(10.0, 4 * uniform() - 2);
    for (int64_t i = 0; i < n; ++i) {
        const double g = sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
        x[i] = (float)(scale * g * (uniform() < 0.01 ? 20 : 1));
    }
}
// A finite fp16 in +-[2^-14, 2^-4), sign random.
static uint16_t random_half(void) { return (uint16_t)((next() & 0x8000) | ((1 + next() % 10) << 10) | (next() & 0x3ff)); }

enum { Q8K = 292 };
static int mismatches, compared;
static double worst;
static void check(const char *what, float got, float want) {
    ++compared;
    if (memcmp(&got, &want, 4) != 0) {
        const double rel = fabs((double)got - want) / fmax(fabs((double)want), 1e-30);
        if (rel > worst) worst = rel;
        if (mismatches++ < 5) printf("  %s: hotmoe %.9g ggml %.9g\n", what, got, want);
    }
}

int main(int argc, char **argv) {
    ggml_cpu_init();
    rng_state = argc > 1 ? strtoull(argv[1], 0, 10) : 88172645463325252ull;
    if (!rng_state) rng_state = 1;
    printf("seed %llu\n", (unsigned long long)rng_state);
    const struct { const char *name; int type; size_t bytes; quantize_fn quant; vec_dot_fn dot; matmul_fn simd, portable; } kinds[] = {
        {"IQ2_XXS", 16, 66, quantize_iq2_xxs, ggml_vec_dot_iq2_xxs_q8_K, hm_matmul_iq2_xxs_q8_K, hm_matmul_iq2_xxs_q8_K_portable},
        {"IQ2_XS", 17, 74, quantize_iq2_xs, ggml_vec_dot_iq2_xs_q8_K, hm_matmul_iq2_xs_q8_K, hm_matmul_iq2_xs_q8_K_portable},
        {"IQ2_S", 22, 82, quantize_iq2_s, ggml_vec_dot_iq2_s_q8_K, hm_matmul_iq2_s_q8_K, hm_matmul_iq2_s_q8_K_portable},
        {"IQ3_XXS", 18, 98, quantize_iq3_xxs, ggml_vec_dot_iq3_xxs_q8_K, hm_matmul_iq3_xxs_q8_K, hm_matmul_iq3_xxs_q8_K_portable},
        {"IQ3_S", 21, 110, quantize_iq3_s, ggml_vec_dot_iq3_s_q8_K, hm_matmul_iq3_s_q8_K, hm_matmul_iq3_s_q8_K_portable},
        {"IQ1_S", 19, 50, quantize_iq1_s, ggml_vec_dot_iq1_s_q8_K, hm_matmul_iq1_s_q8_K, hm_matmul_iq1_s_q8_K_portable},
        {"IQ1_M", 29, 56, quantize_iq1_m, ggml_vec_dot_iq1_m_q8_K, hm_matmul_iq1_m_q8_K, hm_matmul_iq1_m_q8_K_portable},
    };
    const int rows = 16, tokens = 9, shapes[] = {256, 768, 2048, 4096};
    int failed = 0;
    for (int k = 0; k < 7; ++k) {
        ggml_quantize_init(kinds[k].type);
        mismatches = compared = 0, worst = 0;
        for (int si = 0; si < 4; ++si) {
            const int cols = shapes[si], nb = cols / 256;
            const size_t row_bytes = nb * kinds[k].bytes, act_bytes = nb * Q8K;
            float *wf = malloc(sizeof(float) * rows * cols), *af = malloc(sizeof(float) * tokens * cols), *ones = malloc(sizeof(float) * cols);
            uint8_t *w = malloc(rows * row_bytes), *act = malloc(tokens * act_bytes);
            float simd[16 * 9], port[16 * 9], ggml[16 * 9];
            for (int i = 0; i < cols; ++i) ones[i] = 1.0f;
            for (int t = 0; t < tokens; ++t) fill(af + t * cols, cols), quantize_row_q8_K(af + t * cols, act + t * act_bytes, cols);
            for (int source = 0; source < 2; ++source) {
                if (source == 0) {
                    for (size_t i = 0; i < rows * row_bytes; ++i) w[i] = (uint8_t)next();
                    for (int b = 0; b < rows * nb; ++b) {
                        uint8_t *x = w + b * kinds[k].bytes;
                        const uint16_t h = random_half();
                        if (kinds[k].type == 29) {  // IQ1_M: the scale in the top nibbles of 4 uint16 words
                            for (int j = 0; j < 4; ++j) x[49 + 2 * j] = (uint8_t)((x[49 + 2 * j] & 0x0f) | (((h >> (4 * j)) & 0xf) << 4));
                        } else {
                            memcpy(x, &h, 2);
                        }
                    }
                } else {
                    for (int r = 0; r < rows; ++r) fill(wf + r * cols, cols);
                    kinds[k].quant(wf, w, rows, cols, ones);
                }
                kinds[k].simd(w, row_bytes, cols, rows, act, act_bytes, tokens, simd, rows);
                kinds[k].portable(w, row_bytes, cols, rows, act, act_bytes, tokens, port, rows);
                for (int t = 0; t < tokens; ++t)
                    for (int r = 0; r < rows; ++r)
                        kinds[k].dot(cols, &ggml[r + t * rows], 0, w + r * row_bytes, 0, act + t * act_bytes, 0, 1);
                char what[96];
                for (int i = 0; i < rows * tokens; ++i) {
                    snprintf(what, sizeof what, "%s %s cols %d r %d t %d simd", kinds[k].name, source ? "quantised" : "random", cols, i % rows, i / rows);
                    check(what, simd[i], ggml[i]);
                    snprintf(what, sizeof what, "%s %s cols %d r %d t %d portable", kinds[k].name, source ? "quantised" : "random", cols, i % rows, i / rows);
                    check(what, port[i], ggml[i]);
                }
            }
            free(wf), free(af), free(ones), free(w), free(act);
        }
        printf("%s: %d of %d results differ from llama.cpp (worst relative %.2g)\n", kinds[k].name, mismatches, compared, worst);
        failed |= mismatches != 0;
    }
    return failed;
}
