// Prompt-batch kernel speed, side by side in one process: hotmoe's tiled kernel (with its Q8_K
// activation quantisation) against ggml_mul_mat on the same weights (llama.cpp's tiled path from
// 8 tokens, its own quantisation included), one thread, 512 x 1024 weights, 16 / 64 / 256 tokens;
// best of 7 rounds of 5 calls each. Also says whether the outputs are bit for bit ggml's.
// Build and run: bench/tiled-speed-vs-ggml.sh [TYPE]   (llama.cpp from tools/reference/build-llama.sh)
#include "ckernels.h"
#include "ggml.h"
#include "ggml-cpu.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static uint64_t rs = 1;
static double uni(void) { rs = rs * 6364136223846793005ULL + 1442695040888963407ULL; return (double)(rs >> 11) / 9007199254740992.0; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
typedef void (*matmul_fn)(const void *, size_t, int64_t, int64_t, const void *, size_t, int64_t, float *, int64_t);
typedef struct { const char *name; enum ggml_type type; matmul_fn avx2, vnni; } kind_t;
int main(int argc, char **argv) {
    const int vnni = (hm_cpu_features() & 63) == 63;
    const kind_t kinds[] = {
        {"Q2_K", GGML_TYPE_Q2_K, hm_matmul_q2_K_q8_K_tiled, hm_matmul_q2_K_q8_K_tiled_vnni},
        {"Q3_K", GGML_TYPE_Q3_K, hm_matmul_q3_K_q8_K_tiled, hm_matmul_q3_K_q8_K_tiled_vnni},
        {"Q5_K", GGML_TYPE_Q5_K, hm_matmul_q5_K_q8_K_tiled, hm_matmul_q5_K_q8_K_tiled_vnni},
        {"Q6_K", GGML_TYPE_Q6_K, hm_matmul_q6_K_q8_K_tiled, hm_matmul_q6_K_q8_K_tiled_vnni},
        {"IQ4_XS", GGML_TYPE_IQ4_XS, hm_matmul_iq4_xs_q8_K_tiled, hm_matmul_iq4_xs_q8_K_tiled_vnni},
        {"IQ3_S", GGML_TYPE_IQ3_S, hm_matmul_iq3_s_q8_K_tiled, hm_matmul_iq3_s_q8_K_tiled_vnni},
    };
    const int64_t cols = 1024, rows = 512;
    const int tcs[] = {16, 64, 256};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; ++k) {
        if (argc > 1 && strcmp(argv[1], kinds[k].name)) continue;
        for (int ti = 0; ti < 3; ++ti) {
            const int64_t tokens = tcs[ti];
            struct ggml_init_params ip = {.mem_size = 256u << 20, .mem_buffer = NULL, .no_alloc = false};
            struct ggml_context *ctx = ggml_init(ip);
            struct ggml_tensor *w = ggml_new_tensor_2d(ctx, kinds[k].type, cols, rows);
            struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, cols, tokens);
            float *wf = malloc(sizeof(float) * cols * rows);
            for (int64_t i = 0; i < cols * rows; ++i) wf[i] = (float)(uni() - 0.5);
            ggml_quantize_chunk(kinds[k].type, wf, w->data, 0, rows, cols, NULL);
            float *xf = (float *)x->data;
            for (int64_t i = 0; i < cols * tokens; ++i) xf[i] = (float)(uni() - 0.5);
            struct ggml_tensor *y = ggml_mul_mat(ctx, w, x);
            struct ggml_cgraph *g = ggml_new_graph(ctx);
            ggml_build_forward_expand(g, y);
            const size_t act_bytes = (size_t)(cols / 256) * 292;
            uint8_t *act = malloc(act_bytes * tokens);
            float *mine = malloc(sizeof(float) * rows * tokens);
            const matmul_fn fn = vnni ? kinds[k].vnni : kinds[k].avx2;
            const size_t row_bytes = ggml_row_size(kinds[k].type, cols);
            double bg = 1e9, bh = 1e9;
            for (int rep = 0; rep < 7; ++rep) {
                double t0 = now();
                for (int i = 0; i < 5; ++i) ggml_graph_compute_with_ctx(ctx, g, 1);
                double t1 = now();
                for (int i = 0; i < 5; ++i) {
                    for (int64_t t = 0; t < tokens; ++t) hm_quantize_q8_K(xf + t * cols, act + t * act_bytes, cols);
                    fn(w->data, row_bytes, cols, rows, act, act_bytes, tokens, mine, rows);
                }
                double t2 = now();
                if (t1 - t0 < bg) bg = t1 - t0;
                if (t2 - t1 < bh) bh = t2 - t1;
            }
            int differ = memcmp(mine, y->data, sizeof(float) * rows * tokens) != 0;
            printf("%-7s tokens %3lld: ggml %8.3f ms  hotmoe %8.3f ms  ratio %.2fx%s\n", kinds[k].name, (long long)tokens,
                   bg / 5 * 1e3, bh / 5 * 1e3, bg / bh, differ ? "  (outputs differ!)" : "");
            free(wf), free(act), free(mine);
            ggml_free(ctx);
        }
    }
    return 0;
}
