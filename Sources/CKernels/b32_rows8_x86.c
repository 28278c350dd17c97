// Q4_1, Q5_0, Q5_1, IQ4_NL and MXFP4 repacked eight rows at a time, for decode and prompt
// batches (Q8_0 / Q8_1 activations). The per-row kernels in dot_x86.c pay the nibble unpack, the
// scale conversion and a float step per row and block; here the eight rows of a group sit in
// vector lanes, so one broadcast of four activation bytes and one integer dot serve all eight.
//
// Layout: for each group of 8 rows and each 32-element block one record, the same bytes as the
// eight blocks (so row_bytes is the file's):
//   scales  MXFP4: 8 E8M0 exponents; the others: 8 fp16 d (16 bytes)
//   mins    Q4_1, Q5_1: 8 fp16 m (16 bytes)
//   qh      Q5_0, Q5_1: 32 bytes; bit q of byte 4r + j is row r's fifth bit of element 4q + j
//   qs      4 x 32 bytes; byte 4r + j of vector p is row r's qs[4p + j] (low nibble: element
//           4p + j, high nibble: element 16 + 4p + j)
// Step q (0..7) covers elements 4q..4q+3, the 32-bit lane q of ggml's per-row integer dot.
//
// Float order, chosen to be llama.cpp's for each type:
// - IQ4_NL, MXFP4 (llama.cpp repacks them, iq4_nlx8 / mxfp4x8): exact int32 sum per block and
//   row, then acc = fma(float(sum), d_w * d_a, acc), its gemv and gemm order.
// - Q4_1, Q5_0, Q5_1 (llama.cpp does not repack them): ggml_vec_dot's order, one accumulator
//   per step (its 8 lanes), the hsum_float_8 tree at the end, Q4_1/Q5_1 mins added in their own
//   chain; bit for bit the per-row kernels of dot_x86.c.
#include "ckernels.h"
#include "x86_common.h"
#include "block_kinds.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)

static inline int x8_record_bytes(int kind) { return 8 * hm_b32_bytes[kind]; }
static inline int x8_qs(int kind) { return x8_record_bytes(kind) - 128; }
static inline int x8_qh(int kind) { return x8_qs(kind) - 32; }
static inline int x8_has_qh(int kind) { return kind == HM_B32_Q5_0 || kind == HM_B32_Q5_1; }
// One float chain per block (llama.cpp's repacked order), else one per step (vec_dot's).
static inline int x8_block_order(int kind) { return kind == HM_B32_IQ4_NL || kind == HM_B32_MXFP4; }

// ---- repack (plain C; runs once at load) ----------------------------------------------------

static void x8_repack(int kind, const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst) {
    const int64_t nb = cols / 32;
    const int xb = hm_b32_bytes[kind], rb = x8_record_bytes(kind);
    for (int64_t g = 0; g < rows / 8; ++g) {
        for (int64_t i = 0; i < nb; ++i) {
            uint8_t *o = (uint8_t *)dst + (g * nb + i) * rb;
            memset(o, 0, (size_t)rb);
            for (int r = 0; r < 8; ++r) {
                const uint8_t *x = (const uint8_t *)src + (g * 8 + r) * row_bytes + i * xb;
                if (kind == HM_B32_MXFP4) o[r] = x[0];
                else memcpy(o + 2 * r, x, 2);
                if (hm_b32_has_min(kind)) memcpy(o + 16 + 2 * r, x + 2, 2);
                for (int p = 0; p < 4; ++p) memcpy(o + x8_qs(kind) + 32 * p + 4 * r, x + hm_b32_qs[kind] + 4 * p, 4);
                if (x8_has_qh(kind)) {
                    uint32_t qh;
                    memcpy(&qh, x + (kind == HM_B32_Q5_0 ? 2 : 4), 4);
                    // Byte j gathers bits j, j + 4, ..., j + 28 (element 4q + j into bit q).
                    for (int j = 0; j < 4; ++j) {
                        uint32_t b = (qh >> j) & 0x11111111u;
                        b = (b | b >> 3) & 0x03030303u;
                        b = (b | b >> 6) & 0x000F000Fu;
                        o[x8_qh(kind) + 4 * r + j] = (uint8_t)(b | b >> 12);
                    }
                }
            }
        }
    }
}

// ---- kernels ---------------------------------------------------------------------------------

// The 8 steps' codes of a record's 8 rows: int8 values (Q5_0's q - 16, the code books' values),
// or the unsigned quants of Q4_1/Q5_1 (their mins are applied separately). `biased`: the code
// books' values + 128, unsigned (see X8_KERNEL).
HM_AVX2 HM_INLINE void x8_codes(int kind, int biased, const uint8_t *rec, __m256i w[8]) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int p = 0; p < 4; ++p) {
        const __m256i bits = hm_loadu(rec + x8_qs(kind) + 32 * p);
        w[p] = _mm256_and_si256(bits, m4);
        w[p + 4] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
    }
    if (x8_has_qh(kind)) {
        // Bit q of each qh byte moved to bit 4; the shifts stay inside each byte's bits 0..7.
        const __m256i qh = hm_loadu(rec + x8_qh(kind)), bit4 = _mm256_set1_epi8(0x10);
        for (int q = 0; q < 8; ++q) {
            const __m256i h = q <= 4 ? _mm256_slli_epi16(qh, 4 - q) : _mm256_srli_epi16(qh, q - 4);
            w[q] = _mm256_or_si256(w[q], _mm256_and_si256(h, bit4));
            if (kind == HM_B32_Q5_0) w[q] = _mm256_sub_epi8(w[q], _mm256_set1_epi8(16));
        }
    }
    if (kind == HM_B32_IQ4_NL || kind == HM_B32_MXFP4) {
        const __m256i book = _mm256_add_epi8(hm_codebook(kind == HM_B32_MXFP4 ? hm_mxfp4_values : hm_iq4nl_values),
                                             _mm256_set1_epi8(biased ? (char)128 : 0));
        for (int q = 0; q < 8; ++q) w[q] = _mm256_shuffle_epi8(book, w[q]);
    }
}

// The 8 rows' block scales: fp16 d, or MXFP4's 2^(e - 128) (hm_e8m0_half, subnormal below e = 2).
HM_AVX2 HM_INLINE __m256 x8_scales(int kind, const uint8_t *rec) {
    if (kind != HM_B32_MXFP4) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)rec));
    const __m256i e = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)rec));
    const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i small = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(normal, small, _mm256_cmpgt_epi32(_mm256_set1_epi32(2), e)));
}

// Per token: one accumulator per step (vec_dot order; acc[0] alone in block order) and the mins.
typedef struct {
    __m256 acc[8], mins;
} x8_sums;

// Up to X8_TOKENS tokens go through each decoded record; the group's strip (8 rows) stays in L1
// for the next tokens.
#define X8_TOKENS 4

// The 8 lanes' sum, in every lane.
HM_AVX2 HM_INLINE __m256i x8_hsum_bcast(__m256i v) {
    v = _mm256_add_epi32(v, _mm256_permute2x128_si256(v, v, 1));
    v = _mm256_add_epi32(v, _mm256_shuffle_epi32(v, 0x4E));
    return _mm256_add_epi32(v, _mm256_shuffle_epi32(v, 0xB1));
}

// The kernel body once per instruction set; `dot4(acc, u, s)` adds the four-byte dot products
// of unsigned u and signed s to the int32 lanes of acc. Signed codes take ggml's sign trick
// (|w| times a with w's sign), except with `biased` in block order (IQ4_NL, MXFP4 with VNNI):
// codes + 128 go in unsigned, and 128 * (the block's activation sum) comes back out once per
// block, which costs fewer operations than two signs per step.
#define X8_KERNEL(attr, name, dot4, biased)                                                                \
    attr HM_INLINE void name##_tokens(int kind, const uint8_t *strip, int64_t nb, const uint8_t *y, size_t yb, \
                                      int nt, float *out, int64_t os) {                                    \
        const int rb = x8_record_bytes(kind), ab = hm_b32_act_bytes(kind), aq = hm_b32_act_qs(kind);       \
        const int block_order = x8_block_order(kind), unbias = biased && block_order;                      \
        const int signed_codes = !hm_b32_has_min(kind) && !unbias;                                         \
        x8_sums s[X8_TOKENS];                                                                              \
        for (int c = 0; c < nt; ++c) {                                                                     \
            for (int q = 0; q < 8; ++q) s[c].acc[q] = _mm256_setzero_ps();                                 \
            s[c].mins = _mm256_setzero_ps();                                                               \
        }                                                                                                  \
        for (int64_t i = 0; i < nb; ++i) {                                                                 \
            const uint8_t *rec = strip + i * rb;                                                           \
            __m256i w[8];                                                                                  \
            x8_codes(kind, unbias, rec, w);                                                                \
            const __m256 dw = x8_scales(kind, rec);                                                        \
            for (int c = 0; c < nt; ++c) {                                                                 \
                const uint8_t *a = y + c * yb + i * ab;                                                    \
                const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(hm_h2f(a)));                             \
                __m256i isum = _mm256_setzero_si256();                                                     \
                if (unbias) isum = _mm256_sub_epi32(isum, x8_hsum_bcast(dot4(_mm256_setzero_si256(),            \
                                            _mm256_set1_epi8((char)128), hm_loadu(a + aq))));              \
                for (int q = 0; q < 8; ++q) {                                                              \
                    int32_t a4;                                                                            \
                    memcpy(&a4, a + aq + 4 * q, 4);                                                        \
                    __m256i av = _mm256_set1_epi32(a4), uw = w[q];                                         \
                    /* signed codes: |w| times a with w's sign (ggml's mul_sum_i8_pairs) */                \
                    if (signed_codes) av = _mm256_sign_epi8(av, w[q]), uw = _mm256_sign_epi8(w[q], w[q]);  \
                    if (block_order) {                                                                     \
                        isum = dot4(isum, uw, av);                                                         \
                    } else {                                                                               \
                        const __m256 p = _mm256_cvtepi32_ps(dot4(_mm256_setzero_si256(), uw, av));         \
                        s[c].acc[q] = _mm256_fmadd_ps(d, p, s[c].acc[q]);                                  \
                    }                                                                                      \
                }                                                                                          \
                if (block_order) s[c].acc[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, s[c].acc[0]);  \
                if (hm_b32_has_min(kind)) {                                                                \
                    const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(rec + 16)));        \
                    s[c].mins = _mm256_add_ps(s[c].mins, _mm256_mul_ps(m, _mm256_set1_ps(hm_h2f(a + 2)))); \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
        for (int c = 0; c < nt; ++c) {                                                                     \
            __m256 r = s[c].acc[0];                                                                        \
            if (!block_order) {                                                                            \
                /* hsum_float_8's tree over the steps: ((4+0) + (6+2)) + ((5+1) + (7+3)) */               \
                const __m256 *v = s[c].acc;                                                                \
                const __m256 lo = _mm256_add_ps(_mm256_add_ps(v[4], v[0]), _mm256_add_ps(v[6], v[2]));     \
                const __m256 hi = _mm256_add_ps(_mm256_add_ps(v[5], v[1]), _mm256_add_ps(v[7], v[3]));     \
                r = _mm256_add_ps(_mm256_add_ps(lo, hi), s[c].mins);                                       \
            }                                                                                              \
            _mm256_storeu_ps(out + c * os, r);                                                             \
        }                                                                                                  \
    }                                                                                                      \
    attr HM_INLINE void name(int kind, const void *w, size_t row_bytes, int64_t cols, int64_t rows,          \
                             const void *act, size_t act_bytes, int64_t tokens, float *out, int64_t out_stride) { \
        for (int64_t g = 0; g < rows / 8; ++g) {                                                           \
            const uint8_t *strip = (const uint8_t *)w + g * 8 * row_bytes;                                 \
            for (int64_t t = 0; t < tokens; t += X8_TOKENS) {                                              \
                const uint8_t *y = (const uint8_t *)act + t * act_bytes;                                   \
                float *o = out + 8 * g + t * out_stride;                                                   \
                switch (tokens - t) {                                                                      \
                case 1: name##_tokens(kind, strip, cols / 32, y, act_bytes, 1, o, out_stride); break;      \
                case 2: name##_tokens(kind, strip, cols / 32, y, act_bytes, 2, o, out_stride); break;      \
                case 3: name##_tokens(kind, strip, cols / 32, y, act_bytes, 3, o, out_stride); break;      \
                default: name##_tokens(kind, strip, cols / 32, y, act_bytes, 4, o, out_stride); break;     \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
    }

HM_AVX2 HM_INLINE __m256i x8_dot4_avx2(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
HM_VNNI HM_INLINE __m256i x8_dot4_vnni(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }

X8_KERNEL(HM_AVX2, x8_matmul, x8_dot4_avx2, 0)
X8_KERNEL(HM_VNNI, x8_matmul_vnni, x8_dot4_vnni, 1)

// Prompt batches of file-layout weights (not repacked, e.g. --no-repack): each group of 8 rows
// is repacked into a stack strip once, then every token goes through it. Rows wider than the
// strip take the per-row kernel.
#define X8_STRIP_BYTES 32768

static void x8_tiled(int kind, void (*rows8)(HM_MATMUL_ARGS), void (*per_row)(HM_MATMUL_ARGS), const void *w,
                     size_t row_bytes, int64_t cols, int64_t rows, const void *act, size_t act_bytes, int64_t tokens,
                     float *out, int64_t out_stride) {
    if (8 * row_bytes > X8_STRIP_BYTES) {
        per_row(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride);
        return;
    }
    uint8_t strip[X8_STRIP_BYTES];
    for (int64_t g = 0; g < rows / 8; ++g) {
        x8_repack(kind, (const uint8_t *)w + g * 8 * row_bytes, row_bytes, 8, cols, strip);
        rows8(strip, row_bytes, cols, 8, act, act_bytes, tokens, out + 8 * g, out_stride);
    }
}

#define X8_DEF(type, atype, kind)                                                                              \
    void hm_repack_##type##_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst) { \
        x8_repack(kind, src, row_bytes, rows, cols, dst);                                                   \
    }                                                                                                       \
    HM_AVX2 HM_MATMUL_DECL(hm_matmul_##type##_x8_##atype) {                                                   \
        x8_matmul(kind, w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride);                 \
    }                                                                                                       \
    HM_VNNI HM_MATMUL_DECL(hm_matmul_##type##_x8_##atype##_vnni) {                                            \
        x8_matmul_vnni(kind, w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride);            \
    }                                                                                                       \
    HM_MATMUL_DECL(hm_matmul_##type##_##atype##_tiled) {                                                    \
        x8_tiled(kind, hm_matmul_##type##_x8_##atype, hm_matmul_##type##_##atype, w, row_bytes, cols, rows, act, \
                 act_bytes, tokens, out, out_stride);                                                       \
    }                                                                                                       \
    HM_MATMUL_DECL(hm_matmul_##type##_##atype##_tiled_vnni) {                                               \
        x8_tiled(kind, hm_matmul_##type##_x8_##atype##_vnni, hm_matmul_##type##_##atype, w, row_bytes, cols, rows, \
                 act, act_bytes, tokens, out, out_stride);                                                  \
    }
X8_DEF(q4_1, q8_1, HM_B32_Q4_1)
X8_DEF(q5_0, q8_0, HM_B32_Q5_0)
X8_DEF(q5_1, q8_1, HM_B32_Q5_1)
X8_DEF(iq4_nl, q8_0, HM_B32_IQ4_NL)
X8_DEF(mxfp4, q8_0, HM_B32_MXFP4)

#else  // not x86-64: never dispatched to (hm_cpu_features() returns 0).

#define X8_TRAP(type, atype)                                                                                   \
    void hm_repack_##type##_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst) { \
        __builtin_trap();                                                                                   \
    }                                                                                                       \
    HM_MATMUL_DECL(hm_matmul_##type##_x8_##atype) { __builtin_trap(); }                                       \
    HM_MATMUL_DECL(hm_matmul_##type##_x8_##atype##_vnni) { __builtin_trap(); }                             \
    HM_MATMUL_DECL(hm_matmul_##type##_##atype##_tiled) { __builtin_trap(); }                                \
    HM_MATMUL_DECL(hm_matmul_##type##_##atype##_tiled_vnni) { __builtin_trap(); }
X8_TRAP(q4_1, q8_1)
X8_TRAP(q5_0, q8_0)
X8_TRAP(q5_1, q8_1)
X8_TRAP(iq4_nl, q8_0)
X8_TRAP(mxfp4, q8_0)

#endif
