// Prompt-batch products for the 256-element types llama.cpp's AVX2 build does not repack (Q2_K,
// Q3_K, Q5_K, Q6_K, IQ4_XS and the grid formats IQ3_S, IQ3_XXS, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S,
// IQ1_M) with Q8_K activations. The per-dot kernels decode every weight block
// again for every token, which makes a batch cost as much per token as decode. Here eight weight
// rows are decoded once into a tile of integer codes and scales, and every token of the batch is
// multiplied against the tile:
// - codes: 4 consecutive elements of each of the 8 rows per 32-byte vector, so one broadcast of
//   4 activation bytes and one maddubs serve 8 rows at once (unsigned codes, or signed ones with
//   the sign moved onto the activation, as ggml does for signed weights); the grid formats
//   decode to signed codes like IQ4_XS (iquant_x86.h: IQ2/IQ3 signed grid values, IQ1
//   8 * value + shift sign), their odd scales per 16 and d times 1/8, 1/4 or 1 (IQ1: 1/8);
// - the integer scale of each 16-element group is multiplied in by madd; offsets and mins pair
//   with the activations' 16-element sums (Q8_K's bsums).
// Integer sums are exact. The float steps per block are those of llama.cpp's tiled kernels
// (ggml-cpu/tiled), which run these types' prompt batches of 8+ rows: r = float(sum) * d, then
// r -= dmin * float(mins) in one fma (Q2_K, Q5_K), then out = fma(r, yd, out): its AVX2 build
// writes that fma, and GCC contracts its AVX-512 VNNI build's mul + add into the same one. So
// prompt logits take llama.cpp's bits (TiledKQuantTests holds both forms to a scalar model of
// that order; tools/reference/tiled-vs-ggml.sh to ggml's own mul_mat).
#include <math.h>
#include "ckernels.h"
#include "x86_common.h"
#include "block_kinds.h"
#include "iquant_x86.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)

// The grid formats follow IQ4_XS: kind T_GRID + HM_IQ2_XXS etc. (iquant.h); the same numbers as
// the public HM_TILED_* kinds.
enum { T_Q2_K = HM_TILED_Q2_K, T_Q3_K, T_Q5_K, T_Q6_K, T_IQ4_XS, T_GRID };
_Static_assert(T_GRID + HM_IQ1_M == HM_TILED_IQ1_M && T_GRID + HM_IQ2_XXS == HM_TILED_IQ2_XXS, "tiled kinds");
static inline int t_block_bytes(int kind) {
    static const uint8_t bytes[] = {84, 110, 176, 210, 136};
    return kind >= T_GRID ? hm_iq_bytes[kind - T_GRID] : bytes[kind];
}
static inline int t_signed(int kind) { return kind >= T_IQ4_XS; }

// How a kind's group offsets enter: none, into the d-scaled sum (Q3_K's -4, Q6_K's -32), or into
// a separate sum scaled by the block's dmin (Q2_K, Q5_K mins).
enum { T_NO_MINS, T_MINS_IN_D, T_MINS_DMIN };
// With VNNI, the signed codes (IQ4_XS, grids) are stored +128 (dpbusd wants unsigned weights)
// and the bias comes back out through the offsets.
static inline int t_mins(int kind, int vnni) {
    return kind == T_Q2_K || kind == T_Q5_K ? T_MINS_DMIN : t_signed(kind) && !vnni ? T_NO_MINS : T_MINS_IN_D;
}

// Element quads whose int16 pair sums are added before the scale's madd, as far as they cannot
// overflow: |code| * 127 * 2 per quad is at most 3048 (Q2_K), 7112 (Q3_K), 7874 (Q5_K), 16002
// (Q6_K), 32258 (IQ4_XS), 10922 (IQ2 grids), 15748 (IQ3_XXS), 3810 (IQ3_S), 2286 (IQ1's 8v +- 1).
static inline int t_presum(int kind) {
    return kind == T_Q6_K || kind == T_GRID + HM_IQ3_XXS || (kind >= T_GRID + HM_IQ2_XXS && kind <= T_GRID + HM_IQ2_S) ? 2
           : kind == T_IQ4_XS ? 1 : 4;
}

// Tokens per pass: 4 in the AVX2 form (16 registers), 8 in the VNNI form (32 registers), so that
// eight independent dpbusd chains hide the instruction's latency.
#define T_MAX_TOKENS 8

// Whether each 32-element sub-block has one scale (IQ4_XS, Q5_K): the VNNI form then scales
// once per 32 elements instead of per 16 (the integer sum is the same).
static inline int t_scale_per_32(int kind) { return kind == T_IQ4_XS || kind == T_Q5_K; }

// Eight rows x one 256-element block, decoded (3392 bytes).
typedef struct {
    uint8_t q[64][8][4];  // [element / 4][row][element % 4]
    int16_t sc[16][8][2]; // [group of 16][row]: the group's scale, twice (one per maddubs pair)
    int16_t mn[8][8][2];  // [group pair][row]: offsets of groups 2p, 2p + 1 (paired with bsums)
    int32_t sc32[16][8];  // [group of 16][row]: the scale once, for the VNNI kernel's mullo
    float d[8], dmin[8];
} t_tile;

// One row's block: codes in element order, per-group scales and offsets (already negated).
// Plain loops over 32 elements, which the compiler vectorises.
HM_AVX2 HM_INLINE void t_decode(int kind, int vnni, const uint8_t *x, uint8_t codes[256], int16_t sc[16], int16_t mn[16],
                              float *d, float *dmin) {
    *dmin = 0.0f;
    switch (kind) {
    case T_Q2_K:
        for (int h = 0; h < 2; ++h)
            for (int j = 0; j < 4; ++j)
                for (int l = 0; l < 32; ++l) codes[128 * h + 32 * j + l] = (x[16 + 32 * h + l] >> (2 * j)) & 3;
        for (int g = 0; g < 16; ++g) { sc[g] = x[g] & 0xF; mn[g] = -(int16_t)(x[g] >> 4); }
        *d = hm_h2f(x + 80); *dmin = hm_h2f(x + 82);
        break;
    case T_Q3_K:
        for (int h = 0; h < 2; ++h)
            for (int j = 0; j < 4; ++j)
                for (int l = 0; l < 32; ++l)
                    codes[128 * h + 32 * j + l] = ((x[32 + 32 * h + l] >> (2 * j)) & 3) | (((x[l] >> (4 * h + j)) & 1) << 2);
        for (int g = 0; g < 16; ++g) { sc[g] = (int16_t)hm_q3_K_scale(x + 96, g); mn[g] = (int16_t)(-4 * sc[g]); }
        *d = hm_h2f(x + 108);
        break;
    case T_Q5_K: {
        for (int c = 0; c < 4; ++c)
            for (int half = 0; half < 2; ++half)
                for (int l = 0; l < 32; ++l) {
                    const int i = 64 * c + 32 * half + l;
                    codes[i] = ((x[48 + 32 * c + l] >> (4 * half)) & 0xF) | (((x[16 + l] >> (i / 32)) & 1) << 4);
                }
        for (int s = 0; s < 8; ++s) {
            int32_t scale, min;
            hm_k4_scale_min(x + 4, s, &scale, &min);
            sc[2 * s] = sc[2 * s + 1] = (int16_t)scale;
            mn[2 * s] = mn[2 * s + 1] = (int16_t)-min;
        }
        *d = hm_h2f(x); *dmin = hm_h2f(x + 2);
        break;
    }
    case T_Q6_K:
        for (int h = 0; h < 2; ++h)
            for (int j = 0; j < 4; ++j)
                for (int l = 0; l < 32; ++l)
                    codes[128 * h + 32 * j + l] = ((x[64 * h + 32 * (j & 1) + l] >> (4 * (j >> 1))) & 0xF)
                        | (((x[128 + 32 * h + l] >> (2 * j)) & 3) << 4);
        for (int g = 0; g < 16; ++g) { sc[g] = (int8_t)x[192 + g]; mn[g] = (int16_t)(-32 * sc[g]); }
        *d = hm_h2f(x + 208);
        break;
    case T_IQ4_XS: { // signed code-book values, looked up 16 at a time
        const __m128i book = _mm_add_epi8(_mm_loadu_si128((const __m128i *)hm_iq4nl_values), _mm_set1_epi8(vnni ? (char)128 : 0));
        const __m128i m4 = _mm_set1_epi8(0xF);
        for (int ib = 0; ib < 8; ++ib) {
            const __m128i b = _mm_loadu_si128((const __m128i *)(x + 8 + 16 * ib));
            _mm_storeu_si128((__m128i *)(codes + 32 * ib), _mm_shuffle_epi8(book, _mm_and_si128(b, m4)));
            _mm_storeu_si128((__m128i *)(codes + 32 * ib + 16), _mm_shuffle_epi8(book, _mm_and_si128(_mm_srli_epi16(b, 4), m4)));
        }
        for (int g = 0; g < 16; ++g) { sc[g] = (int16_t)hm_iq4_xs_scale(x, g / 2); mn[g] = (int16_t)(vnni ? -128 * sc[g] : 0); }
        *d = hm_h2f(x);
        break;
    }
    default: { // the grid formats
        const int grid = kind - T_GRID;
        for (int ib = 0; ib < 8; ++ib) {
            int lo, hi;
            const __m256i c = hm_iq_codes32(grid, x, ib, &lo, &hi);
            _mm256_storeu_si256((__m256i *)(codes + 32 * ib), vnni ? _mm256_add_epi8(c, _mm256_set1_epi8((char)128)) : c);
            sc[2 * ib] = (int16_t)lo, sc[2 * ib + 1] = (int16_t)hi;
        }
        for (int g = 0; g < 16; ++g) mn[g] = (int16_t)(vnni ? -128 * sc[g] : 0);
        if (grid == HM_IQ1_M) {
            const uint16_t bits = hm_iq1_m_d_bits(x);
            *d = hm_h2f((const uint8_t *)&bits);
        } else {
            *d = hm_h2f(x);
        }
        *d *= grid == HM_IQ3_S ? 1.0f : grid == HM_IQ3_XXS ? 0.25f : 0.125f;
        break;
    }
    }
}

// Rows' element quads into the tile's [quad][row] order: an 8 x 8 transpose of 32-bit lanes per
// 8 quads (plain strided stores compile to AVX-512 scatters, which cost more than the products).
HM_AVX2 HM_INLINE void t_interleave(const uint8_t codes[8][256], uint8_t q[64][8][4]) {
    for (int k0 = 0; k0 < 64; k0 += 8) {
        __m256i r[8], t[8], u[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_si256((const __m256i *)(codes[i] + 4 * k0));
        for (int i = 0; i < 8; i += 2) {
            t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
            t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
        }
        for (int h = 0; h < 8; h += 4) { // rows h..h+3: quads k, k + 1, k + 2, k + 3 in each 128-bit lane
            u[h] = _mm256_unpacklo_epi64(t[h], t[h + 2]);
            u[h + 1] = _mm256_unpackhi_epi64(t[h], t[h + 2]);
            u[h + 2] = _mm256_unpacklo_epi64(t[h + 1], t[h + 3]);
            u[h + 3] = _mm256_unpackhi_epi64(t[h + 1], t[h + 3]);
        }
        for (int j = 0; j < 4; ++j) {
            _mm256_storeu_si256((__m256i *)q[k0 + j], _mm256_permute2x128_si256(u[j], u[4 + j], 0x20));
            _mm256_storeu_si256((__m256i *)q[k0 + 4 + j], _mm256_permute2x128_si256(u[j], u[4 + j], 0x31));
        }
    }
}

HM_AVX2 HM_INLINE void t_fill(int kind, int vnni, const uint8_t *w, size_t row_bytes, int64_t first_block, int nb, t_tile *tiles) {
    uint8_t codes[8][256];
    int16_t sc[8][16], mn[8][16];
    for (int b = 0; b < nb; ++b) {
        t_tile *t = tiles + b;
        for (int r = 0; r < 8; ++r)
            t_decode(kind, vnni, w + r * row_bytes + (first_block + b) * t_block_bytes(kind), codes[r], sc[r], mn[r], &t->d[r],
                     &t->dmin[r]);
        t_interleave((const uint8_t(*)[256])codes, t->q);
#pragma clang loop vectorize(disable)
        for (int g = 0; g < 16; ++g)
            for (int r = 0; r < 8; ++r) t->sc[g][r][0] = t->sc[g][r][1] = sc[r][g], t->sc32[g][r] = sc[r][g];
#pragma clang loop vectorize(disable)
        for (int p = 0; p < 8; ++p)
            for (int r = 0; r < 8; ++r) t->mn[p][r][0] = mn[r][2 * p], t->mn[p][r][1] = mn[r][2 * p + 1];
    }
}

HM_AVX2 HM_INLINE __m256i t_bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// The end of one block for `nt` tokens: the offsets (into the d-scaled sum or a dmin-scaled one),
// then for the 8 rows r = sum * d (+ mins * dmin in one fma) and o = fma(r, yd, o).
HM_AVX2 HM_INLINE void t_finish_block(const t_tile *t, int mins, const uint8_t *yq, size_t yb, int nt, __m256i acc[], __m256 o[]) {
    __m256i macc[T_MAX_TOKENS];
    for (int c = 0; c < nt; ++c) macc[c] = _mm256_setzero_si256();
    if (mins != T_NO_MINS) {
        for (int p = 0; p < 8; ++p) {
            const __m256i m = _mm256_loadu_si256((const __m256i *)t->mn[p]);
            for (int c = 0; c < nt; ++c) {
                const __m256i prod = _mm256_madd_epi16(m, t_bcast4(yq + c * yb + 256 + 4 * p));
                if (mins == T_MINS_IN_D) acc[c] = _mm256_add_epi32(acc[c], prod);
                else macc[c] = _mm256_add_epi32(macc[c], prod);
            }
        }
    }
    const __m256 d = _mm256_loadu_ps(t->d), dmin = _mm256_loadu_ps(t->dmin);
    for (int c = 0; c < nt; ++c) {
        float yd;
        memcpy(&yd, yq - 4 + c * yb, 4);
        const __m256 vyd = _mm256_set1_ps(yd);
        __m256 r = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[c]), d);
        // macc holds -(mins . bsums), so this is llama.cpp's fnmadd(dmin, mins . bsums, r).
        if (mins == T_MINS_DMIN) r = _mm256_fmadd_ps(_mm256_cvtepi32_ps(macc[c]), dmin, r);
        o[c] = _mm256_fmadd_ps(r, vyd, o[c]);
    }
}

// `nt` (1-4) tokens against `nb` tiles; out holds 8 rows per token (`os` apart) and is added to
// when `accumulate`. `kind` and `nt` are constants at every call site.
HM_AVX2 HM_INLINE void t_tokens(int kind, const t_tile *tiles, int nb, const uint8_t *y, size_t yb, int nt,
                                float *out, int64_t os, int accumulate) {
    const int mins = t_mins(kind, 0), signed_codes = t_signed(kind), presum = t_presum(kind);
    __m256 o[4];
    for (int c = 0; c < nt; ++c) o[c] = accumulate ? _mm256_loadu_ps(out + c * os) : _mm256_setzero_ps();
    for (int b = 0; b < nb; ++b) {
        const t_tile *t = tiles + b;
        const uint8_t *yq = y + (size_t)b * HM_Q8_K + 4;
        __m256i acc[4];
        for (int c = 0; c < nt; ++c) acc[c] = _mm256_setzero_si256();
        for (int g = 0; g < 16; ++g) {
            const __m256i s = _mm256_loadu_si256((const __m256i *)t->sc[g]);
            for (int j0 = 0; j0 < 4; j0 += presum) {
                __m256i part[4];
                for (int j = j0; j < j0 + presum; ++j) {
                    const int k = 4 * g + j;
                    const __m256i w = _mm256_loadu_si256((const __m256i *)t->q[k]);
                    const __m256i aw = signed_codes ? _mm256_sign_epi8(w, w) : w;
                    for (int c = 0; c < nt; ++c) {
                        __m256i a = t_bcast4(yq + c * yb + 4 * k);
                        if (signed_codes) a = _mm256_sign_epi8(a, w);
                        const __m256i p = _mm256_maddubs_epi16(aw, a);
                        part[c] = j == j0 ? p : _mm256_add_epi16(part[c], p);
                    }
                }
                for (int c = 0; c < nt; ++c) acc[c] = _mm256_add_epi32(acc[c], _mm256_madd_epi16(part[c], s));
            }
        }
        t_finish_block(t, mins, yq, yb, nt, acc, o);
    }
    for (int c = 0; c < nt; ++c) _mm256_storeu_ps(out + c * os, o[c]);
}

// The VNNI form: dpbusd sums four code x activation products per row straight into int32, so a
// 16-element group (32 where the scale is per 32) costs four (eight) dpbusd per token and one
// mullo by the group's scale.
HM_VNNI HM_INLINE void t_tokens_vnni(int kind, const t_tile *tiles, int nb, const uint8_t *y, size_t yb, int nt,
                                     float *out, int64_t os, int accumulate) {
    const int mins = t_mins(kind, 1), gs = t_scale_per_32(kind) ? 2 : 1;
    __m256 o[T_MAX_TOKENS];
    for (int c = 0; c < nt; ++c) o[c] = accumulate ? _mm256_loadu_ps(out + c * os) : _mm256_setzero_ps();
    for (int b = 0; b < nb; ++b) {
        const t_tile *t = tiles + b;
        const uint8_t *yq = y + (size_t)b * HM_Q8_K + 4;
        __m256i acc[T_MAX_TOKENS];
        for (int c = 0; c < nt; ++c) acc[c] = _mm256_setzero_si256();
        for (int g = 0; g < 16; g += gs) {
            __m256i part[T_MAX_TOKENS];
            for (int c = 0; c < nt; ++c) part[c] = _mm256_setzero_si256();
            for (int j = 0; j < 4 * gs; ++j) {
                const int k = 4 * g + j;
                const __m256i w = _mm256_loadu_si256((const __m256i *)t->q[k]);
                for (int c = 0; c < nt; ++c) part[c] = _mm256_dpbusd_epi32(part[c], w, t_bcast4(yq + c * yb + 4 * k));
            }
            const __m256i s = _mm256_loadu_si256((const __m256i *)t->sc32[g]);
            for (int c = 0; c < nt; ++c) acc[c] = _mm256_add_epi32(acc[c], _mm256_mullo_epi32(part[c], s));
        }
        t_finish_block(t, mins, yq, yb, nt, acc, o);
    }
    for (int c = 0; c < nt; ++c) _mm256_storeu_ps(out + c * os, o[c]);
}

// Blocks per tile pass: 8 x 3392 bytes stay in L1 while every token goes by.
#define T_CHUNK 8

// The driver, once per instruction set: per 8 rows, per pass of up to T_CHUNK blocks, decode
// the tiles and run every token through them (`group` at a time, then 4, then the remainder;
// every pass has a constant token count, so the accumulators stay in registers).
#define T_DRIVER(attr, name, tokens_fn, vnni, group)                                                       \
    attr HM_INLINE void name(int kind, const void *w, size_t row_bytes, int64_t cols, int64_t rows,          \
                             const void *act, size_t act_bytes, int64_t tokens, float *out, int64_t out_stride) { \
        t_tile tiles[T_CHUNK];                                                                             \
        const int64_t blocks = cols / 256;                                                                 \
        for (int64_t r0 = 0; r0 + 8 <= rows; r0 += 8) {                                                    \
            const uint8_t *wr = (const uint8_t *)w + r0 * row_bytes;                                       \
            for (int64_t b0 = 0; b0 < blocks; b0 += T_CHUNK) {                                             \
                const int nb = (int)(blocks - b0 < T_CHUNK ? blocks - b0 : T_CHUNK);                       \
                t_fill(kind, vnni, wr, row_bytes, b0, nb, tiles);                                          \
                const uint8_t *y = (const uint8_t *)act + b0 * HM_Q8_K;                                    \
                int64_t t = 0;                                                                             \
                for (; t + (group) <= tokens; t += (group))                                                \
                    tokens_fn(kind, tiles, nb, y + t * act_bytes, act_bytes, (group), out + r0 + t * out_stride, \
                              out_stride, b0 > 0);                                                         \
                if ((group) > 4 && t + 4 <= tokens) {                                                      \
                    tokens_fn(kind, tiles, nb, y + t * act_bytes, act_bytes, 4, out + r0 + t * out_stride, \
                              out_stride, b0 > 0);                                                         \
                    t += 4;                                                                                \
                }                                                                                          \
                float *o = out + r0 + t * out_stride;                                                      \
                y += t * act_bytes;                                                                        \
                switch (tokens - t) {                                                                      \
                case 3: tokens_fn(kind, tiles, nb, y, act_bytes, 3, o, out_stride, b0 > 0); break;         \
                case 2: tokens_fn(kind, tiles, nb, y, act_bytes, 2, o, out_stride, b0 > 0); break;         \
                case 1: tokens_fn(kind, tiles, nb, y, act_bytes, 1, o, out_stride, b0 > 0); break;         \
                default: break;                                                                            \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
    }
T_DRIVER(HM_AVX2, t_matmul, t_tokens, 0, 4)
T_DRIVER(HM_VNNI, t_matmul_vnni, t_tokens_vnni, 1, T_MAX_TOKENS)

#define T_DEF(name, kind)                                                                                    \
    HM_AVX2 HM_MATMUL_DECL(name) { t_matmul(kind, w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride); } \
    HM_VNNI HM_MATMUL_DECL(name##_vnni) {                                                                   \
        t_matmul_vnni(kind, w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride);             \
    }
T_DEF(hm_matmul_q2_K_q8_K_tiled, T_Q2_K)
T_DEF(hm_matmul_q3_K_q8_K_tiled, T_Q3_K)
T_DEF(hm_matmul_q5_K_q8_K_tiled, T_Q5_K)
T_DEF(hm_matmul_q6_K_q8_K_tiled, T_Q6_K)
T_DEF(hm_matmul_iq4_xs_q8_K_tiled, T_IQ4_XS)
T_DEF(hm_matmul_iq2_xxs_q8_K_tiled, T_GRID + HM_IQ2_XXS)
T_DEF(hm_matmul_iq2_xs_q8_K_tiled, T_GRID + HM_IQ2_XS)
T_DEF(hm_matmul_iq2_s_q8_K_tiled, T_GRID + HM_IQ2_S)
T_DEF(hm_matmul_iq3_xxs_q8_K_tiled, T_GRID + HM_IQ3_XXS)
T_DEF(hm_matmul_iq3_s_q8_K_tiled, T_GRID + HM_IQ3_S)
T_DEF(hm_matmul_iq1_s_q8_K_tiled, T_GRID + HM_IQ1_S)
T_DEF(hm_matmul_iq1_m_q8_K_tiled, T_GRID + HM_IQ1_M)

// The scalar model of the kernels' float order (tests): exact integer sums over each decoded
// block, then t_finish_block's steps one output at a time.
HM_AVX2 void hm_tiled_order_model(int kind, HM_MATMUL_ARGS) {
    uint8_t codes[256];
    int16_t sc[16], mn[16];
    const int mins = t_mins(kind, 0), signed_codes = t_signed(kind);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t t = 0; t < tokens; ++t) {
            float o = 0.0f;
            for (int64_t b = 0; b < cols / 256; ++b) {
                float d, dmin, yd;
                t_decode(kind, 0, (const uint8_t *)w + r * row_bytes + b * t_block_bytes(kind), codes, sc, mn, &d, &dmin);
                const uint8_t *y = (const uint8_t *)act + t * act_bytes + b * HM_Q8_K;
                int16_t bsums[16];
                memcpy(&yd, y, 4);
                memcpy(bsums, y + 4 + 256, sizeof bsums);
                int32_t sum = 0, msum = 0;
                for (int g = 0; g < 16; ++g) {
                    int32_t part = 0;
                    for (int e = 16 * g; e < 16 * g + 16; ++e)
                        part += (signed_codes ? (int32_t)(int8_t)codes[e] : (int32_t)codes[e]) * (int8_t)y[4 + e];
                    sum += sc[g] * part;
                    if (mins == T_MINS_IN_D) sum += mn[g] * bsums[g];
                    if (mins == T_MINS_DMIN) msum += mn[g] * bsums[g];
                }
                float v = (float)sum * d;
                if (mins == T_MINS_DMIN) v = fmaf((float)msum, dmin, v);
                o = fmaf(v, yd, o);
            }
            out[r + t * out_stride] = o;
        }
}

#else

void hm_tiled_order_model(int kind, HM_MATMUL_ARGS) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q2_K_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q3_K_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q5_K_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q6_K_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq4_xs_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q2_K_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q3_K_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q5_K_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q6_K_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq4_xs_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq2_xxs_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq2_xs_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq2_s_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq3_xxs_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq3_s_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq1_s_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq1_m_q8_K_tiled) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq2_xxs_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq2_xs_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq2_s_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq3_xxs_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq3_s_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq1_s_q8_K_tiled_vnni) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_iq1_m_q8_K_tiled_vnni) { __builtin_trap(); }

#endif
