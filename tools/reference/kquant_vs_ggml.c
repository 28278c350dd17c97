// hotmoe's K-quant dot products against llama.cpp's, bit for bit, on fresh random inputs:
// weights quantised by ggml (quantize_qN_K), activations by ggml's quantize_row_q8_K (gemm:
// ggml_quantize_mat_q8_K_4x8 for llama.cpp, quantize_row_q8_K for hotmoe). Q2_K, Q3_K, Q5_K,
// Q6_K against ggml_vec_dot_*_q8_K; Q4_K against the repacked q4_K_8x8 gemv and gemm that
// llama.cpp runs on AVX2 for every matrix with rows % 8 == 0: both must match; the gemm
// (dense batches of 4+ tokens) through hm_matmul_q4_K_x8_q8_K_gemm; vec_dot_q4_K (unrepacked,
// which llama.cpp does not run for such matrices) is counted, not required.
// Build and run: tools/reference/kquant-vs-ggml.sh [seed]. Not part of CI (needs llama.cpp).
#include "ckernels.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ggml_vec_dot_q2_K_q8_K(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);
void ggml_vec_dot_q3_K_q8_K(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);
void ggml_vec_dot_q4_K_q8_K(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);
void ggml_vec_dot_q5_K_q8_K(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);
void ggml_vec_dot_q6_K_q8_K(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);
void ggml_gemv_q4_K_8x8_q8_K(int n, float *s, size_t bs, const void *vx, const void *vy, int nr, int nc);
void ggml_gemm_q4_K_8x8_q8_K(int n, float *s, size_t bs, const void *vx, const void *vy, int nr, int nc);
void ggml_quantize_mat_q8_K_4x8(const float *x, void *vy, int64_t k);
void quantize_row_q8_K(const float *x, void *y, int64_t k);
void ggml_cpu_init(void);
size_t quantize_q2_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q3_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q4_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q5_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t quantize_q6_K(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);

typedef void (*vec_dot_fn)(int, float *, size_t, const void *, size_t, const void *, size_t, int);
typedef size_t (*quantize_fn)(const float *, void *, int64_t, int64_t, const float *);
typedef void (*matmul_fn)(const void *, size_t, int64_t, int64_t, const void *, size_t, int64_t, float *, int64_t);

static uint64_t rng_state;
static double uniform(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
// Gaussian with a few outliers, at a random scale per call.
static void fill(float *x, int64_t n) {
    const double scale = pow(10.0, 4 * uniform() - 2);
    for (int64_t i = 0; i < n; ++i) {
        const double g = sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
        x[i] = (float)(scale * g * (uniform() < 0.01 ? 20 : 1));
    }
}

static int mismatches, compared;
static double worst;
static void check(const char *what, float got, float want) {
    ++compared;
    uint32_t a, b;
    memcpy(&a, &got, 4), memcpy(&b, &want, 4);
    if (a != b) {
        const double rel = fabs((double)got - want) / fmax(fabs((double)want), 1e-30);
        if (rel > worst) worst = rel;
        if (mismatches++ < 5) printf("  %s: hotmoe %.9g ggml %.9g\n", what, got, want);
    }
}

// ggml's make_block_q4_Kx8 with interleave 8 (ggml-cpu/repack.cpp), reimplemented.
enum { Q4K = 144, Q4KX8 = 16 + 16 + 96 + 1024, Q8K = 292 };
static void repack_q4_Kx8(const uint8_t *in[8], uint8_t *out) {
    for (int i = 0; i < 8; ++i) memcpy(out + 2 * i, in[i], 2), memcpy(out + 16 + 2 * i, in[i] + 2, 2);
    for (int i = 0; i < 128; ++i) memcpy(out + 128 + 8 * i, in[i % 8] + 16 + (i / 8) * 8, 8);
    uint8_t *sc = out + 32;
    for (int half = 0; half < 2; ++half) {
        for (int i = 0; i < 4; ++i) {
            uint8_t s[8], m[8];
            for (int j = 0; j < 8; ++j) {
                const uint8_t *q = in[j] + 4;
                s[j] = half ? ((q[i] & 192) >> 2) | (q[i + 8] & 15) : q[i] & 63;
                m[j] = half ? ((q[i + 4] & 192) >> 2) | ((q[i + 8] & 240) >> 4) : q[i + 4] & 63;
            }
            uint8_t *o = sc + 48 * half + 12 * i;
            for (int j = 0; j < 4; ++j) {
                o[j] = (s[j] & 63) + ((s[j + 4] & 48) << 2);
                o[j + 4] = (m[j] & 63) + ((m[j + 4] & 48) << 2);
                o[j + 8] = (s[j + 4] & 15) + ((m[j + 4] & 15) << 4);
            }
        }
    }
}

#include <time.h>
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Decode-shape speed, one thread: a 4096 x 4096 matrix times one token, hotmoe's kernel against
// the ggml kernel llama.cpp runs for it (vec_dot per row; for Q4_K the repacked gemv, and
// hotmoe's own eight-row layout beside its file-layout kernel). Best of 9 alternated runs.
static void speed(const char *name, size_t bytes, quantize_fn quant, vec_dot_fn dot, matmul_fn mine, int q4k) {
    enum { ROWS = 4096, COLS = 4096, NB = COLS / 256 };
    const size_t row_bytes = NB * bytes;
    float *wf = malloc(sizeof(float) * ROWS * COLS), af[COLS], out[ROWS];
    uint8_t *w = malloc(ROWS * row_bytes), act[NB * Q8K];
    fill(wf, (int64_t)ROWS * COLS), fill(af, COLS);
    quant(wf, w, ROWS, COLS, NULL);
    quantize_row_q8_K(af, act, COLS);
    uint8_t *packed = NULL, *mine8 = NULL;
    if (q4k) {
        packed = malloc((size_t)ROWS / 8 * NB * Q4KX8), mine8 = malloc((size_t)ROWS * NB * 148);
        for (int g = 0; g < ROWS / 8; ++g)
            for (int b = 0; b < NB; ++b) {
                const uint8_t *in[8];
                for (int j = 0; j < 8; ++j) in[j] = w + (g * 8 + j) * row_bytes + b * Q4K;
                repack_q4_Kx8(in, packed + (g * NB + b) * Q4KX8);
            }
        hm_repack_q4_K_x8(w, row_bytes, ROWS, COLS, mine8);
    }
    double best[3] = {1e9, 1e9, 1e9};
    for (int rep = 0; rep < 9; ++rep) {
        double t = now_s();
        if (q4k) ggml_gemv_q4_K_8x8_q8_K(COLS, out, ROWS, packed, act, 1, ROWS);
        else for (int r = 0; r < ROWS; ++r) dot(COLS, &out[r], 0, w + r * row_bytes, 0, act, 0, 1);
        if ((t = now_s() - t) < best[0]) best[0] = t;
        t = now_s();
        mine(w, row_bytes, COLS, ROWS, act, sizeof act, 1, out, ROWS);
        if ((t = now_s() - t) < best[1]) best[1] = t;
        if (q4k) {
            t = now_s();
            hm_matmul_q4_K_x8_q8_K(mine8, NB * 148, COLS, ROWS, act, sizeof act, 1, out, ROWS);
            if ((t = now_s() - t) < best[2]) best[2] = t;
        }
    }
    printf("%s 4096x4096 x 1 token: llama.cpp %.0f us, hotmoe %.0f us (%.2fx)", name, best[0] * 1e6, best[1] * 1e6, best[0] / best[1]);
    if (q4k) printf(", hotmoe rows8 %.0f us (%.2fx)", best[2] * 1e6, best[0] / best[2]);
    printf("\n");
    free(wf), free(w), free(packed), free(mine8);
}

int main(int argc, char **argv) {
    ggml_cpu_init();  // fills the fp16 table ggml's scalar conversions read
    rng_state = argc > 1 ? strtoull(argv[1], 0, 10) : 88172645463325252ull;
    if (!rng_state) rng_state = 1;
    printf("seed %llu\n", (unsigned long long)rng_state);
    const struct { const char *name; size_t bytes; quantize_fn quant; vec_dot_fn dot; matmul_fn simd, portable; } kinds[] = {
        {"Q2_K", 84, quantize_q2_K, ggml_vec_dot_q2_K_q8_K, hm_matmul_q2_K_q8_K, hm_matmul_q2_K_q8_K_portable},
        {"Q3_K", 110, quantize_q3_K, ggml_vec_dot_q3_K_q8_K, hm_matmul_q3_K_q8_K, hm_matmul_q3_K_q8_K_portable},
        {"Q5_K", 176, quantize_q5_K, ggml_vec_dot_q5_K_q8_K, hm_matmul_q5_K_q8_K, hm_matmul_q5_K_q8_K_portable},
        {"Q6_K", 210, quantize_q6_K, ggml_vec_dot_q6_K_q8_K, hm_matmul_q6_K_q8_K, hm_matmul_q6_K_q8_K_portable},
        {"Q4_K", Q4K, quantize_q4_K, ggml_vec_dot_q4_K_q8_K, hm_matmul_q4_K_q8_K, hm_matmul_q4_K_q8_K_portable},
    };
    if (argc > 2 && !strcmp(argv[2], "speed")) {
        for (int k = 0; k < 5; ++k) speed(kinds[k].name, kinds[k].bytes, kinds[k].quant, kinds[k].dot, kinds[k].simd, k == 4);
        return 0;
    }
    const int rows = 16, tokens = 9, shapes[] = {256, 768, 2048, 4096};
    int failed = 0;
    for (int k = 0; k < 5; ++k) {
        mismatches = compared = 0, worst = 0;
        int vec_dot_mismatches = 0, gemm_mismatches = 0;
        for (int si = 0; si < 4; ++si) {
            const int cols = shapes[si], nb = cols / 256;
            const size_t row_bytes = nb * kinds[k].bytes, act_bytes = nb * Q8K;
            float *wf = malloc(sizeof(float) * rows * cols), *af = malloc(sizeof(float) * tokens * cols);
            uint8_t *w = malloc(rows * row_bytes), *act = malloc(tokens * act_bytes);
            float *simd = malloc(sizeof(float) * rows * tokens), *port = malloc(sizeof(float) * rows * tokens);
            for (int r = 0; r < rows; ++r) fill(wf + r * cols, cols);
            for (int t = 0; t < tokens; ++t) fill(af + t * cols, cols);
            kinds[k].quant(wf, w, rows, cols, NULL);
            for (int t = 0; t < tokens; ++t) quantize_row_q8_K(af + t * cols, act + t * act_bytes, cols);
            kinds[k].simd(w, row_bytes, cols, rows, act, act_bytes, tokens, simd, rows);
            kinds[k].portable(w, row_bytes, cols, rows, act, act_bytes, tokens, port, rows);
            float ggml[16 * 9];
            if (k < 4) {
                for (int t = 0; t < tokens; ++t)
                    for (int r = 0; r < rows; ++r)
                        kinds[k].dot(cols, &ggml[r + t * rows], 0, w + r * row_bytes, 0, act + t * act_bytes, 0, 1);
            } else {
                // llama.cpp's repacked gemv, as it runs for MUL_MAT_ID (expert) products, single
                // tokens and the last n % 4 tokens of a batch. Its gemm (the first n - n % 4 tokens
                // of a dense batch of n > 3) adds four partial sums per block; counted apart.
                uint8_t *packed = malloc((size_t)rows / 8 * nb * Q4KX8), *act4 = malloc((size_t)2 * nb * (16 + 1024 + 128));
                for (int g = 0; g < rows / 8; ++g)
                    for (int b = 0; b < nb; ++b) {
                        const uint8_t *in[8];
                        for (int j = 0; j < 8; ++j) in[j] = w + (g * 8 + j) * row_bytes + b * Q4K;
                        repack_q4_Kx8(in, packed + (g * nb + b) * Q4KX8);
                    }
                for (int t = 0; t < tokens; ++t) ggml_gemv_q4_K_8x8_q8_K(cols, ggml + t * rows, rows, packed, act + t * act_bytes, 1, rows);
                const size_t a4_bytes = (size_t)nb * (16 + 1024 + 128);
                float gemm[16 * 8];
                for (int q = 0; q < 2; ++q) ggml_quantize_mat_q8_K_4x8(af + 4 * q * cols, act4 + q * a4_bytes, cols);
                for (int q = 0; q < 2; ++q) ggml_gemm_q4_K_8x8_q8_K(cols, gemm + 4 * q * rows, rows, packed, act4 + q * a4_bytes, 4, rows);
                for (int i = 0; i < rows * 8; ++i) gemm_mismatches += memcmp(&gemm[i], &ggml[i], 4) != 0;
                // hotmoe's own eight-row layout.
                const size_t x8_row_bytes = (size_t)nb * 148;
                uint8_t *mine = malloc(rows * x8_row_bytes);
                hm_repack_q4_K_x8(w, row_bytes, rows, cols, mine);
                float x8[16 * 9], vec_dot_want[16 * 9];
                hm_matmul_q4_K_x8_q8_K(mine, x8_row_bytes, cols, rows, act, act_bytes, tokens, x8, rows);
                for (int i = 0; i < rows * tokens; ++i) check("Q4_K rows8", x8[i], ggml[i]);
                // The gemm order, for the first 8 tokens (two groups of four).
                hm_matmul_q4_K_x8_q8_K_gemm(mine, x8_row_bytes, cols, rows, act, act_bytes, 8, x8, rows);
                for (int i = 0; i < rows * 8; ++i) check("Q4_K rows8 gemm", x8[i], gemm[i]);
                hm_matmul_q4_K_q8_K_gemm_portable(w, row_bytes, cols, rows, act, act_bytes, 8, x8, rows);
                for (int i = 0; i < rows * 8; ++i) check("Q4_K gemm portable", x8[i], gemm[i]);
                hm_matmul_q4_K_q8_K_gemm(w, row_bytes, cols, rows, act, act_bytes, 8, x8, rows);
                for (int i = 0; i < rows * 8; ++i) check("Q4_K gemm file layout", x8[i], gemm[i]);
                for (int t = 0; t < tokens; ++t)
                    for (int r = 0; r < rows; ++r) {
                        float v;
                        ggml_vec_dot_q4_K_q8_K(cols, &v, 0, w + r * row_bytes, 0, act + t * act_bytes, 0, 1);
                        uint32_t a, b;
                        memcpy(&a, &v, 4), memcpy(&b, &ggml[r + t * rows], 4);
                        vec_dot_mismatches += a != b;
                        vec_dot_want[r + t * rows] = v;
                    }
                // Unrepacked matrices (rows % 8 != 0) take vec_dot's order.
                hm_matmul_q4_K_q8_K_vec_dot(w, row_bytes, cols, rows, act, act_bytes, tokens, x8, rows);
                for (int i = 0; i < rows * tokens; ++i) check("Q4_K vec_dot", x8[i], vec_dot_want[i]);
                hm_matmul_q4_K_q8_K_vec_dot_portable(w, row_bytes, cols, rows, act, act_bytes, tokens, x8, rows);
                for (int i = 0; i < rows * tokens; ++i) check("Q4_K vec_dot portable", x8[i], vec_dot_want[i]);
                free(packed), free(act4), free(mine);
            }
            char what[64];
            for (int i = 0; i < rows * tokens; ++i) {
                snprintf(what, sizeof what, "%s cols %d r %d t %d simd", kinds[k].name, cols, i % rows, i / rows);
                check(what, simd[i], ggml[i]);
                snprintf(what, sizeof what, "%s cols %d r %d t %d portable", kinds[k].name, cols, i % rows, i / rows);
                check(what, port[i], ggml[i]);
            }
            free(wf), free(af), free(w), free(act), free(simd), free(port);
        }
        printf("%s: %d of %d results differ from llama.cpp (worst relative %.2g)", kinds[k].name, mismatches, compared, worst);
        if (k == 4) {
            printf("\n  (ggml's own gemm differs from its gemv in %d of %d results, and its unrepacked vec_dot_q4_K in %d of %d:"
                   " hence one kernel per order)", gemm_mismatches, rows * 8 * 4, vec_dot_mismatches, rows * tokens * 4);
        }
        printf("\n");
        failed |= mismatches != 0;
    }
    return failed;
}
