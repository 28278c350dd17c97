#ifndef HOTMOE_CKERNELS_H
#define HOTMOE_CKERNELS_H
#include <stdint.h>
#include <stddef.h>

/// Bit set of SIMD features found at run time: 1 AVX2, 2 FMA, 4 AVX-512F, 8 AVX-512 VNNI, 16 F16C,
/// 32 AVX-512VL.
int hm_cpu_features(void);

// Block layouts are ggml's (ggml-common.h); no pointer needs any alignment.
// Everything up to the portable section needs AVX2 + FMA + F16C (check
// hm_cpu_features() & 19 == 19) and an x86-64 build; on other targets those symbols exist but
// trap, so callers must dispatch first.

/// Quantises k floats (k % 256 == 0) to Q8_K blocks, bit-identical to ggml's quantize_row_q8_K_ref.
void hm_quantize_q8_K(const float *x, void *y, int64_t k);
/// Quantises k floats (k % 32 == 0) to Q8_0 blocks like ggml's x86 quantize_row_q8_0
/// (id = 127/amax, round to nearest even).
void hm_quantize_q8_0_x86(const float *x, void *y, int64_t k);
/// Converts n floats to IEEE half, rounding to nearest even.
void hm_fp32_to_fp16(const float *x, void *y, int64_t n);

/// Matrix times activations: for each of `rows` weight rows (row_bytes apart, `cols` elements
/// each) and each of `tokens` activation rows (act_bytes apart, in the weight type's vec-dot
/// format), out[r + t * out_stride] = dot(w[r], act[t]). Rows outer, tokens inner.
#define HM_MATMUL_ARGS \
    const void *w, size_t row_bytes, int64_t cols, int64_t rows, const void *act, size_t act_bytes, int64_t tokens, \
        float *out, int64_t out_stride
#define HM_MATMUL_DECL(name) void name(HM_MATMUL_ARGS)
HM_MATMUL_DECL(hm_matmul_q4_K_q8_K);
/// Q4_K in the file layout with llama.cpp's q4_K_8x8 gemm float order (see hm_matmul_q4_K_x8_q8_K_gemm).
HM_MATMUL_DECL(hm_matmul_q4_K_q8_K_gemm);
/// Q4_K in ggml_vec_dot_q4_K_q8_K's order, which llama.cpp runs for matrices it does not repack (rows % 8 != 0).
HM_MATMUL_DECL(hm_matmul_q4_K_q8_K_vec_dot);
HM_MATMUL_DECL(hm_matmul_q5_K_q8_K);
HM_MATMUL_DECL(hm_matmul_q6_K_q8_K);
/// Prompt batches of the types the AVX2 build of llama.cpp does not repack: eight rows decoded
/// once into integer tiles, then every token (kquant_tiled_x86.c). rows % 8 == 0; float order
/// llama.cpp's tiled kernels' (ggml-cpu/tiled), the same in the AVX2 and `_vnni` forms; a few
/// ulp from the per-dot kernels above.
/// The tiled kernels' kinds, and the scalar form of their float order (ragged row tails, tests).
enum {
    HM_TILED_Q2_K, HM_TILED_Q3_K, HM_TILED_Q5_K, HM_TILED_Q6_K, HM_TILED_IQ4_XS, HM_TILED_IQ2_XXS, HM_TILED_IQ2_XS,
    HM_TILED_IQ2_S, HM_TILED_IQ3_XXS, HM_TILED_IQ3_S, HM_TILED_IQ1_S, HM_TILED_IQ1_M
};
void hm_tiled_order_model(int kind, HM_MATMUL_ARGS);
HM_MATMUL_DECL(hm_matmul_q2_K_q8_K_tiled);
HM_MATMUL_DECL(hm_matmul_q3_K_q8_K_tiled);
HM_MATMUL_DECL(hm_matmul_q5_K_q8_K_tiled);
HM_MATMUL_DECL(hm_matmul_q6_K_q8_K_tiled);
HM_MATMUL_DECL(hm_matmul_iq4_xs_q8_K_tiled);
/// The grid formats (iquant.h) the same way.
HM_MATMUL_DECL(hm_matmul_iq2_xxs_q8_K_tiled);
HM_MATMUL_DECL(hm_matmul_iq2_xs_q8_K_tiled);
HM_MATMUL_DECL(hm_matmul_iq2_s_q8_K_tiled);
HM_MATMUL_DECL(hm_matmul_iq3_xxs_q8_K_tiled);
HM_MATMUL_DECL(hm_matmul_iq3_s_q8_K_tiled);
HM_MATMUL_DECL(hm_matmul_iq1_s_q8_K_tiled);
HM_MATMUL_DECL(hm_matmul_iq1_m_q8_K_tiled);
/// The same with AVX-512 VNNI (dpbusd on 256-bit vectors; needs hm_cpu_features() & 63 == 63).
HM_MATMUL_DECL(hm_matmul_q2_K_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_q3_K_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_q5_K_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_q6_K_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_iq4_xs_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_iq2_xxs_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_iq2_xs_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_iq2_s_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_iq3_xxs_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_iq3_s_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_iq1_s_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_iq1_m_q8_K_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_q8_0_q8_0);
HM_MATMUL_DECL(hm_matmul_q4_0_q8_0);
// Formats read from downloaded files: Q4_1/Q5_1 take Q8_1 activations (fp16 d, fp16 s = d * sum(q),
// 32 int8), the 32-element others Q8_0, the 256-element ones Q8_K.
HM_MATMUL_DECL(hm_matmul_q4_1_q8_1);
HM_MATMUL_DECL(hm_matmul_q5_0_q8_0);
HM_MATMUL_DECL(hm_matmul_q5_1_q8_1);
HM_MATMUL_DECL(hm_matmul_iq4_nl_q8_0);
HM_MATMUL_DECL(hm_matmul_mxfp4_q8_0);
HM_MATMUL_DECL(hm_matmul_q2_K_q8_K);
HM_MATMUL_DECL(hm_matmul_q3_K_q8_K);
HM_MATMUL_DECL(hm_matmul_iq4_xs_q8_K);
// The grid formats (iquant.h), in ggml's AVX2 float order.
HM_MATMUL_DECL(hm_matmul_iq2_xxs_q8_K);
HM_MATMUL_DECL(hm_matmul_iq2_xs_q8_K);
HM_MATMUL_DECL(hm_matmul_iq2_s_q8_K);
HM_MATMUL_DECL(hm_matmul_iq3_xxs_q8_K);
HM_MATMUL_DECL(hm_matmul_iq3_s_q8_K);
HM_MATMUL_DECL(hm_matmul_iq1_s_q8_K);
HM_MATMUL_DECL(hm_matmul_iq1_m_q8_K);
HM_MATMUL_DECL(hm_matmul_f16_f16);
HM_MATMUL_DECL(hm_matmul_bf16_bf16);

/// Q4_K weights repacked eight rows at a time (layout in kquant_x86.c): 1184 bytes per group
/// of 8 rows and 256 columns. `rows` must be a multiple of 8. hm_repack_q4_K_x8 writes
/// rows / 8 * cols / 256 records to dst; hm_matmul_q4_K_x8_q8_K takes a repacked matrix with
/// row_bytes = cols / 256 * 148 and rows (the count) a multiple of 8.
void hm_repack_q4_K_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst);
HM_MATMUL_DECL(hm_matmul_q4_K_x8_q8_K);
/// The same product with llama.cpp's gemm float order (one step per 64 columns), which ggml
/// uses for the first n - n % 4 tokens of a dense batch of n > 3 tokens.
HM_MATMUL_DECL(hm_matmul_q4_K_x8_q8_K_gemm);
/// The same for Q8_0 (layout in dot_x86.c): 272 bytes per group of 8 rows and 32 columns,
/// row_bytes = cols / 32 * 34 (unchanged from the file layout).
void hm_repack_q8_0_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst);
HM_MATMUL_DECL(hm_matmul_q8_0_x8_q8_0);
/// Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4 repacked eight rows at a time (layout in b32_rows8_x86.c),
/// row_bytes unchanged from the file layout; rows a multiple of 8. IQ4_NL/MXFP4 follow
/// llama.cpp's repacked (x8) float order, the others ggml_vec_dot's. The _vnni forms need
/// AVX-512 F, VL and VNNI and give the same bits.
void hm_repack_q4_1_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst);
void hm_repack_q5_0_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst);
void hm_repack_q5_1_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst);
void hm_repack_iq4_nl_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst);
void hm_repack_mxfp4_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst);
HM_MATMUL_DECL(hm_matmul_q4_1_x8_q8_1);
HM_MATMUL_DECL(hm_matmul_q5_0_x8_q8_0);
HM_MATMUL_DECL(hm_matmul_q5_1_x8_q8_1);
HM_MATMUL_DECL(hm_matmul_iq4_nl_x8_q8_0);
HM_MATMUL_DECL(hm_matmul_mxfp4_x8_q8_0);
HM_MATMUL_DECL(hm_matmul_q4_1_x8_q8_1_vnni);
HM_MATMUL_DECL(hm_matmul_q5_0_x8_q8_0_vnni);
HM_MATMUL_DECL(hm_matmul_q5_1_x8_q8_1_vnni);
HM_MATMUL_DECL(hm_matmul_iq4_nl_x8_q8_0_vnni);
HM_MATMUL_DECL(hm_matmul_mxfp4_x8_q8_0_vnni);
/// The same kernels on file-layout rows (rows % 8 == 0), for prompt batches: each group of 8 rows
/// repacked once into a stack strip (rows of up to 4 KiB; wider ones take the per-row kernel).
HM_MATMUL_DECL(hm_matmul_q4_1_q8_1_tiled);
HM_MATMUL_DECL(hm_matmul_q5_0_q8_0_tiled);
HM_MATMUL_DECL(hm_matmul_q5_1_q8_1_tiled);
HM_MATMUL_DECL(hm_matmul_iq4_nl_q8_0_tiled);
HM_MATMUL_DECL(hm_matmul_mxfp4_q8_0_tiled);
HM_MATMUL_DECL(hm_matmul_q4_1_q8_1_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_q5_0_q8_0_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_q5_1_q8_1_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_iq4_nl_q8_0_tiled_vnni);
HM_MATMUL_DECL(hm_matmul_mxfp4_q8_0_tiled_vnni);


// Portable twins of the above for every target (plain C, compiler-vectorised), used where
// AVX2 is missing. Quantised types give results bit-identical to the Swift reference.
HM_MATMUL_DECL(hm_matmul_q4_K_q8_K_portable);
/// Q4_K in llama.cpp's q4_K_8x8 gemm float order (the reference of hm_matmul_q4_K_x8_q8_K_gemm).
HM_MATMUL_DECL(hm_matmul_q4_K_q8_K_gemm_portable);
HM_MATMUL_DECL(hm_matmul_q4_K_q8_K_vec_dot_portable);
HM_MATMUL_DECL(hm_matmul_q5_K_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_q6_K_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_q8_0_q8_0_portable);
HM_MATMUL_DECL(hm_matmul_q4_0_q8_0_portable);
HM_MATMUL_DECL(hm_matmul_q4_1_q8_1_portable);
HM_MATMUL_DECL(hm_matmul_q5_0_q8_0_portable);
HM_MATMUL_DECL(hm_matmul_q5_1_q8_1_portable);
HM_MATMUL_DECL(hm_matmul_iq4_nl_q8_0_portable);
HM_MATMUL_DECL(hm_matmul_mxfp4_q8_0_portable);
HM_MATMUL_DECL(hm_matmul_q2_K_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_q3_K_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_iq4_xs_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_iq2_xxs_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_iq2_xs_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_iq2_s_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_iq3_xxs_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_iq3_s_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_iq1_s_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_iq1_m_q8_K_portable);
HM_MATMUL_DECL(hm_matmul_f16_f16_portable);
HM_MATMUL_DECL(hm_matmul_bf16_bf16_portable);

/// The grid formats' code books (iquant_grids.c, copied from ggml-common.h), for the Swift
/// reference: ksigns_iq2xs[128], iq2xxs_grid[256], iq2xs_grid[512], iq2s_grid[1024] (8 bytes
/// per entry), iq3xxs_grid[256], iq3s_grid[512] (4 bytes), iq1s_grid[2048] (8 int8).
extern const uint8_t *const hm_ksigns_iq2xs_table;
extern const uint64_t *const hm_iq2xxs_grid_table;
extern const uint64_t *const hm_iq2xs_grid_table;
extern const uint64_t *const hm_iq2s_grid_table;
extern const uint32_t *const hm_iq3xxs_grid_table;
extern const uint32_t *const hm_iq3s_grid_table;
extern const uint64_t *const hm_iq1s_grid_table;

// Float ops in ggml's exact order and rounding (ggml_float_ops.c; its AVX-512 path, emulated
// lane by lane, so the bits are the same on every CPU). Swift twins: Engine's GgmlFloat.
/// y = silu(x) as ggml_vec_silu_f32 (polynomial exp in 16-lane chunks, libm for the tail).
void hm_ggml_silu_f32(const float *x, float *y, int64_t n);
/// y = silu(x) * g as ggml_vec_swiglu_f32.
void hm_ggml_swiglu_f32(const float *x, const float *g, float *y, int64_t n);
/// In-place softmax of a row as ggml's soft_max (the router's probabilities).
void hm_ggml_softmax_f32(float *x, int64_t n);
/// sum x*y as ggml_vec_dot_f32.
float hm_ggml_dot_f32(const float *x, const float *y, int64_t n);
/// y += x * v as ggml_vec_mad_f32 (one FMA per element).
void hm_ggml_mad_f32(float *y, const float *x, float v, int64_t n);
/// F32 x F32 products as ggml computes them: `_vec` with ggml_vec_dot_f32 for every output
/// (mul_mat_id, single tokens); `_gemm` as a dense mul_mat (llamafile's tinyBLAS order for 2+
/// tokens when cols % 16 == 0, else ggml_vec_dot_f32).
HM_MATMUL_DECL(hm_matmul_f32_ggml_vec);
HM_MATMUL_DECL(hm_matmul_f32_ggml_gemm);
/// F16 x F16 the same way (ggml_vec_dot_f16; tinyBLAS for 2+ tokens when cols % 16 == 0).
HM_MATMUL_DECL(hm_matmul_f16_ggml_vec);
HM_MATMUL_DECL(hm_matmul_f16_ggml_gemm);
/// KV-cache row types (KVCacheType in Engine).
enum { HM_KV_F32 = 0, HM_KV_F16 = 1, HM_KV_Q8_0 = 2 };
/// Writes n floats as a cache row of `type` (F16: round to nearest even; Q8_0, n % 32 == 0:
/// ggml's x86 quantize_row_q8_0).
void hm_kv_store_row(int32_t type, const float *x, void *dst, int64_t n);
/// Reads a cache row of `type` back as n floats (exact: F16 widened, Q8_0 q * d).
void hm_kv_load_row(int32_t type, const void *src, float *y, int64_t n);
/// One query head's attention over positions first..<n (key / value rows of their types,
/// k_row_bytes / v_row_bytes apart, from position 0) as llama.cpp computes it without flash
/// attention (see kv_attention.c); `batched`: the query is one of a batch of 2+ tokens.
/// `scores`: scratch for n floats rounded up to 16; `acc`: scratch for 64 * value_dim floats;
/// `q_scratch`: 2 * head_dim bytes (the query in the keys' type). `sink`: this head's
/// attention-sink logit, which joins the softmax's max and sum without a value (gpt-oss;
/// ggml_soft_max_add_sinks), or NULL. Q8_0 needs head_dim / value_dim % 32 == 0.
void hm_attend_ggml_kv(const float *q, const void *keys, int32_t k_type, int64_t k_row_bytes, const void *values,
                       int32_t v_type, int64_t v_row_bytes, int64_t first, int64_t n, int64_t head_dim,
                       int64_t value_dim, float scale, int32_t batched, const float *sink, float *scores, float *acc,
                       void *q_scratch, float *out);
/// One query of a tile: its head's query row, its output row, the positions first..<n it
/// sees, and its sink logit or NULL.
typedef struct {
    const float *q;
    float *out;
    int64_t first, n;
    const float *sink;
} hm_attention_query;
/// hm_attend_ggml_kv (batched) for `count` queries that read the same KV head, bit-identical to
/// one call per query but reading each key and value row once per tile. Query i's scratch
/// starts at scratch + i * row_floats: its scores (n floats rounded up to 16) at 0, 16 *
/// value_dim accumulators at acc_offset and the converted query (2 * head_dim bytes) at
/// query_offset. `block`: HM_KV_TILE_ROWS * max(head_dim, value_dim) floats of scratch.
enum { HM_KV_TILE_ROWS = 64 };
void hm_attend_ggml_kv_tile(const hm_attention_query *queries, int32_t count, const void *keys, int32_t k_type,
                            int64_t k_row_bytes, const void *values, int32_t v_type, int64_t v_row_bytes,
                            int64_t head_dim, int64_t value_dim, float scale, float *scratch, int64_t row_floats,
                            int64_t acc_offset, int64_t query_offset, float *block);
/// AVX2 + F16C steps of hm_attend_ggml_kv over F16 rows, bit-identical to its portable loops
/// (kv_attention_x86.c): the value rows' weighted sum into `slots` lane accumulators, and the
/// scaled key scores (ggml_vec_dot_f16 per row, query already F16, head_dim <= 512).
void hm_kv_accumulate_f16(const void *values, int64_t v_row_bytes, const float *weights, int64_t first, int64_t n,
                          int64_t value_dim, int64_t slots, float *acc);
void hm_kv_scores_f16(const void *query, const void *keys, int64_t k_row_bytes, int64_t first, int64_t n,
                      int64_t head_dim, float scale, float *scores);
/// A tile's block of F16 rows widened once for all its queries, and the two steps over such a
/// block (row p at block + (p - base) * dim), bit-identical to hm_kv_scores_f16 /
/// hm_kv_accumulate_f16 over the F16 rows (scores need head_dim % 8 == 0).
void hm_kv_widen_f16(const void *rows, int64_t row_bytes, int64_t lo, int64_t hi, int64_t dim, float *out);
void hm_kv_scores_widened(const void *query, const float *block, int64_t base, int64_t first, int64_t n,
                          int64_t head_dim, float scale, float *scores);
void hm_kv_accumulate_widened(const float *block, int64_t base, const float *weights, int64_t first, int64_t n,
                              int64_t value_dim, int64_t slots, float *acc);
/// Attention's softmax over scores[first..<n] in place (ggml's exp in 16-lane chunks summed in
/// double, an optional sink, then the F16 rounding of the weights when `round_f16`): the AVX2
/// form and the portable loops it is bit-identical to.
void hm_kv_softmax(float *scores, int64_t first, int64_t n, const float *sink, int32_t round_f16);
void hm_kv_softmax_portable(float *scores, int64_t first, int64_t n, const float *sink, int32_t round_f16);
/// hm_attend_ggml_kv with F32 rows k_stride / v_stride floats apart.
void hm_attend_ggml_f32(const float *q, const float *keys, int64_t k_stride, const float *values, int64_t v_stride,
                        int64_t first, int64_t n, int64_t head_dim, int64_t value_dim, float scale, int32_t batched,
                        const float *sink, float *scores, float *acc, float *out);
/// out[t][c] = sum_j window[t + j][c] * taps[c][j] as ggml's ssm_conv (FMA chain over j).
void hm_ggml_conv_f32(const float *window, int64_t channels, int64_t tokens, int64_t kernel,
                      const float *taps, float *out);

#endif
