// hotmoe's prompt-batch kernels for the types llama.cpp runs through ggml-cpu/tiled (Q2_K, Q3_K,
// Q5_K, Q6_K, IQ4_XS and the grid types IQ2/IQ3/IQ1) against ggml's own mul_mat, bit for bit, on fresh random inputs: a graph
// of one ggml_mul_mat (weights quantised by ggml, activations F32, which ggml quantises to Q8_K
// itself) computed on one CPU thread, so llama.cpp picks its path exactly as in a model (tiled
// from 8 tokens: `ggml_tiled_min_batch`). hotmoe quantises the same activations with
// hm_quantize_q8_K and runs its tiled kernel in the form this CPU dispatches (VNNI or AVX2).
// Dense batches of 8, 13, 32, 128 and 300 tokens (ggml's narrow and windowed paths); one of
// each type's runs has 5 tokens, where ggml takes vec_dot and hotmoe its per-dot
// kernel, which must match too.
// Build and run: tools/reference/tiled-vs-ggml.sh [seed]. Not part of CI (needs llama.cpp).
#include "ckernels.h"
#include "ggml.h"
#include "ggml-cpu.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;
static double uniform(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

typedef void (*matmul_fn)(const void *, size_t, int64_t, int64_t, const void *, size_t, int64_t, float *, int64_t);
typedef struct { const char *name; enum ggml_type type; matmul_fn avx2, vnni, perdot; } kind_t;

int main(int argc, char **argv) {
    rng_state = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    const int vnni = (hm_cpu_features() & 63) == 63;
    const kind_t kinds[] = { // in HM_TILED_* order: the index is the kind
        {"Q2_K", GGML_TYPE_Q2_K, hm_matmul_q2_K_q8_K_tiled, hm_matmul_q2_K_q8_K_tiled_vnni, hm_matmul_q2_K_q8_K},
        {"Q3_K", GGML_TYPE_Q3_K, hm_matmul_q3_K_q8_K_tiled, hm_matmul_q3_K_q8_K_tiled_vnni, hm_matmul_q3_K_q8_K},
        {"Q5_K", GGML_TYPE_Q5_K, hm_matmul_q5_K_q8_K_tiled, hm_matmul_q5_K_q8_K_tiled_vnni, hm_matmul_q5_K_q8_K},
        {"Q6_K", GGML_TYPE_Q6_K, hm_matmul_q6_K_q8_K_tiled, hm_matmul_q6_K_q8_K_tiled_vnni, hm_matmul_q6_K_q8_K},
        {"IQ4_XS", GGML_TYPE_IQ4_XS, hm_matmul_iq4_xs_q8_K_tiled, hm_matmul_iq4_xs_q8_K_tiled_vnni, hm_matmul_iq4_xs_q8_K},
#define GRID(N, T, f) {N, T, hm_matmul_##f##_q8_K_tiled, hm_matmul_##f##_q8_K_tiled_vnni, hm_matmul_##f##_q8_K}
        GRID("IQ2_XXS", GGML_TYPE_IQ2_XXS, iq2_xxs), GRID("IQ2_XS", GGML_TYPE_IQ2_XS, iq2_xs),
        GRID("IQ2_S", GGML_TYPE_IQ2_S, iq2_s), GRID("IQ3_XXS", GGML_TYPE_IQ3_XXS, iq3_xxs),
        GRID("IQ3_S", GGML_TYPE_IQ3_S, iq3_s), GRID("IQ1_S", GGML_TYPE_IQ1_S, iq1_s), GRID("IQ1_M", GGML_TYPE_IQ1_M, iq1_m),
    };
    int failures = 0;
    printf("hotmoe %s kernels vs ggml mul_mat (seed %llu)\n", vnni ? "AVX-512 VNNI" : "AVX2",
           (unsigned long long)rng_state);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; ++k) {
        const int token_counts[] = {8, 13, 32, 5, 128, 300};
        for (int tc = 0; tc < 6; ++tc) {
            // 61 rows: tiles of 8 and a ragged tail of 5, which hotmoe runs in the scalar form of the order
            const int64_t cols = 256 * (1 + (int64_t)(uniform() * 12)), rows = 61, tokens = token_counts[tc];
            const int tiled = tokens >= 8;
            struct ggml_init_params ip = {.mem_size = 64u << 20, .mem_buffer = NULL, .no_alloc = false};
            struct ggml_context *ctx = ggml_init(ip);
            struct ggml_tensor *w = ggml_new_tensor_2d(ctx, kinds[k].type, cols, rows);
            struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, cols, tokens);
            float *wf = malloc(sizeof(float) * cols * rows);
            for (int64_t i = 0; i < cols * rows; ++i) wf[i] = (float)((uniform() - 0.5) * (uniform() < 0.01 ? 8 : 1));
            // The IQ1 / IQ2 quantisers need an importance matrix; a random positive one will do.
            float *importance = malloc(sizeof(float) * cols);
            for (int64_t i = 0; i < cols; ++i) importance[i] = (float)(0.1 + uniform());
            ggml_quantize_chunk(kinds[k].type, wf, w->data, 0, rows, cols,
                                ggml_quantize_requires_imatrix(kinds[k].type) ? importance : NULL);
            free(importance);
            float *xf = (float *)x->data;
            for (int64_t i = 0; i < cols * tokens; ++i) xf[i] = (float)((uniform() - 0.5) * 2 * (uniform() < 0.01 ? 20 : 1));
            struct ggml_tensor *y = ggml_mul_mat(ctx, w, x);
            struct ggml_cgraph *g = ggml_new_graph(ctx);
            ggml_build_forward_expand(g, y);
            ggml_graph_compute_with_ctx(ctx, g, 1);

            const size_t act_bytes = (size_t)(cols / 256) * 292;
            uint8_t *act = malloc(act_bytes * tokens);
            for (int64_t t = 0; t < tokens; ++t) hm_quantize_q8_K(xf + t * cols, act + t * act_bytes, cols);
            float *mine = malloc(sizeof(float) * rows * tokens);
            const matmul_fn fn = !tiled ? kinds[k].perdot : vnni ? kinds[k].vnni : kinds[k].avx2;
            const size_t row_bytes = ggml_row_size(kinds[k].type, cols);
            const int64_t aligned = tiled ? rows / 8 * 8 : rows;
            fn(w->data, row_bytes, cols, aligned, act, act_bytes, tokens, mine, rows);
            if (aligned < rows)
                hm_tiled_order_model((int)k, (const uint8_t *)w->data + aligned * row_bytes, row_bytes, cols, rows - aligned,
                                     act, act_bytes, tokens, mine + aligned, rows);
            int differ = 0;
            double worst = 0;
            for (int64_t t = 0; t < tokens; ++t)
                for (int64_t r = 0; r < rows; ++r) {
                    const float a = mine[r + t * rows], b = ((float *)y->data)[r + t * rows];
                    if (memcmp(&a, &b, 4) != 0) {
                        ++differ;
                        const double rel = (a - b) / (b != 0 ? b : 1);
                        if (rel * rel > worst * worst) worst = rel;
                    }
                }
            printf("  %-7s cols %5lld tokens %2lld (%s): %d of %lld outputs differ%s", kinds[k].name, (long long)cols,
                   (long long)tokens, tiled ? "tiled" : "per-dot", differ, (long long)(rows * tokens), differ ? "" : "\n");
            if (differ) printf(", worst relative %.2e\n", worst);
            failures += differ != 0;
            free(wf), free(act), free(mine);
            ggml_free(ctx);
        }
    }
    // MUL_MAT_ID (experts): 8 experts, 2 per token, 300 tokens, expert 0 in every token's first
    // slot (300 rows, past one 256-row window) and the others sharing the second (around 43 each);
    // hotmoe runs each expert's gathered rows as one batch.
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; ++k) {
        const int64_t cols = 256 * (1 + (int64_t)(uniform() * 6)), rows = 32, experts = 8, used = 2, tokens = 300;
        struct ggml_init_params ip = {.mem_size = 64u << 20, .mem_buffer = NULL, .no_alloc = false};
        struct ggml_context *ctx = ggml_init(ip);
        struct ggml_tensor *w = ggml_new_tensor_3d(ctx, kinds[k].type, cols, rows, experts);
        struct ggml_tensor *x = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, cols, used, tokens);
        struct ggml_tensor *ids = ggml_new_tensor_2d(ctx, GGML_TYPE_I32, used, tokens);
        float *wf = malloc(sizeof(float) * cols * rows * experts), *importance = malloc(sizeof(float) * cols);
        for (int64_t i = 0; i < cols * rows * experts; ++i) wf[i] = (float)(uniform() - 0.5);
        for (int64_t i = 0; i < cols; ++i) importance[i] = (float)(0.1 + uniform());
        ggml_quantize_chunk(kinds[k].type, wf, w->data, 0, rows * experts, cols,
                            ggml_quantize_requires_imatrix(kinds[k].type) ? importance : NULL);
        float *xf = (float *)x->data;
        for (int64_t i = 0; i < cols * used * tokens; ++i) xf[i] = (float)((uniform() - 0.5) * 2);
        int32_t *id = (int32_t *)ids->data;
        for (int64_t t = 0; t < tokens; ++t) {
            // skewed: expert 0 takes every token's first slot, the rest share the second
            id[t * used] = 0;
            id[t * used + 1] = 1 + (int32_t)(uniform() * (experts - 1));
        }
        struct ggml_tensor *y = ggml_mul_mat_id(ctx, w, x, ids);
        struct ggml_cgraph *g = ggml_new_graph(ctx);
        ggml_build_forward_expand(g, y);
        ggml_graph_compute_with_ctx(ctx, g, 1);
        const size_t act_bytes = (size_t)(cols / 256) * 292, wbytes = ggml_row_size(kinds[k].type, cols) * rows;
        uint8_t *act = malloc(act_bytes * tokens);
        float *mine = malloc(sizeof(float) * rows * tokens);
        int differ = 0, counts[8] = {0};
        for (int64_t e = 0; e < experts; ++e) {
            int64_t n = 0, slot_of[600];
            for (int64_t t = 0; t < tokens; ++t)
                for (int64_t u = 0; u < used; ++u)
                    if (id[t * used + u] == e) {
                        hm_quantize_q8_K(xf + (t * used + u) * cols, act + n * act_bytes, cols);
                        slot_of[n++] = t * used + u;
                    }
            counts[e] = (int)n;
            if (n == 0) continue;
            const matmul_fn fn = n < 8 ? kinds[k].perdot : vnni ? kinds[k].vnni : kinds[k].avx2;
            fn((const uint8_t *)w->data + e * wbytes, ggml_row_size(kinds[k].type, cols), cols, rows, act, act_bytes, n,
               mine, rows);
            for (int64_t j = 0; j < n; ++j)
                differ += memcmp(mine + j * rows, (float *)y->data + slot_of[j] * rows, sizeof(float) * rows) != 0;
        }
        printf("  %-7s experts, cols %5lld, %d/%d/%d/.. rows per expert: %d of %lld slots differ\n", kinds[k].name,
               (long long)cols, counts[0], counts[1], counts[2], differ, (long long)(used * tokens));
        failures += differ != 0;
        free(wf), free(importance), free(act), free(mine);
        ggml_free(ctx);
    }
    printf("%s\n", failures ? "MISMATCH" : "all bit for bit");
    return failures != 0;
}
