// AVX2 matmuls for the K-quants (Q4_K, Q5_K, Q6_K weights against Q8_K activations) in the
// exact float order of llama.cpp's AVX2 build; kquant_portable.c states that order and is the
// bit-exact reference these kernels are tested against. Each 256-element block is reduced to
// int32 lanes as ggml's x86 code does. Against the Swift reference (one exact int32 sum and
// scalar float steps per block) only the float summation order differs.
//
// Tiles: one weight row against up to HM_KTOKENS tokens. The row's blocks stay in L1 while the
// token chunks pass over them; the quant unpacking is repeated per chunk, which costs far less
// than the maddubs per token it feeds. Chunk kernels are always inlined with a literal token
// count so the accumulators live in registers.
#include "ckernels.h"
#include "x86_common.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)

#define HM_KTOKENS 8

// Unpacks a Q4_K/Q5_K 12-byte scale field s[0..11] into 8 scales (bytes 0..7) and 8 mins
// (bytes 8..15) with vector ops (ggml does it with scalar shifts; this is about half the ops):
//   j < 4:  scale j = s[j] & 63,                      min j = s[j+4] & 63
//   j >= 4: scale j = (s[j+4] & 15) | (s[j-4] >> 6) << 4, min j = (s[j+4] >> 4) | (s[j] >> 6) << 4
// Reads 16 bytes at q (the 4 after the field are the block's quants, and are ignored).
HM_AVX2 HM_INLINE __m128i hm_scales_mins_k4(const uint8_t *q) {
    const __m128i s = _mm_loadu_si128((const __m128i *)q);
    // Low-bit source per output byte, and the byte whose top two bits give bits 4-5 (-1: none).
    const __m128i lo_src = _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11);
    const __m128i hi_src = _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7);
    const __m128i lo = _mm_shuffle_epi8(s, lo_src);
    const __m128i lo_shifted = _mm_and_si128(_mm_srli_epi16(lo, 4), _mm_set1_epi8(0x0F));
    // Bytes 12..15 (mins 4..7) take the high nibble; the rest the low bits.
    const __m128i nibble = _mm_blend_epi16(lo, lo_shifted, 0xC0);
    const __m128i low_mask = _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15);
    const __m128i high = _mm_and_si128(_mm_srli_epi16(_mm_shuffle_epi8(s, hi_src), 2), _mm_set1_epi8(0x30));
    return _mm_or_si128(_mm_and_si128(nibble, low_mask), high);
}

// Broadcasts int16 lane k of each 128-bit half (both halves hold the same 8 values).
HM_AVX2 HM_INLINE __m256i hm_pick_i16(__m256i v, int k) {
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(((2 * k + 1) << 8) | (2 * k))));
}

// Sum over the 8 sub-blocks g of mins[g] * (bsums[2g] + bsums[2g+1]), as 4 int32 lanes.
HM_AVX2 HM_INLINE __m128i hm_mins_dot(__m128i mins16, const uint8_t *y) {
    const __m256i bs = hm_loadu(y + 260);
    const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    return _mm_madd_epi16(mins16, pairs);
}

// One Q4_K (five = 0) or Q5_K (five = 1) row against nt tokens, in ggml's order (see
// kquant_portable.c): Q4_K as its repacked gemv (one scalar chain for the scaled sums, one for
// the mins, subtracted at the end), Q5_K as ggml_vec_dot_q5_K_q8_K (eight lanes, mins in a
// scalar chain added after the horizontal sum). `q4_order` picks Q4_K's other orders:
// HM_Q4_GEMM its repacked gemm (both chains stepped per 64-element quarter of a block),
// HM_Q4_VEC_DOT ggml_vec_dot_q4_K_q8_K, which runs for matrices llama.cpp does not repack
// (rows % 8 != 0): eight lanes for the sums, four for the mins. Stores out[t * out_stride].
enum { HM_Q4_GEMV = 0, HM_Q4_GEMM = 1, HM_Q4_VEC_DOT = 2 };
HM_AVX2 HM_INLINE void hm_q45_chunk(const uint8_t *wr, int64_t nb, int five, const uint8_t *a0,
                                    size_t act_bytes, int nt, float *out, int64_t out_stride, const int q4_order) {
    const int per_64 = !five && q4_order == HM_Q4_GEMM, lanes = five || q4_order == HM_Q4_VEC_DOT;
    const size_t xbytes = five ? HM_Q5_K : HM_Q4_K;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i bit5 = _mm256_set1_epi8(0x10);
    __m256 acc[HM_KTOKENS];
    float scalar_acc[HM_KTOKENS], mins_acc[HM_KTOKENS];
    __m128 mins_lanes[HM_KTOKENS];
    for (int t = 0; t < nt; ++t) acc[t] = _mm256_setzero_ps(), mins_lanes[t] = _mm_setzero_ps(), scalar_acc[t] = mins_acc[t] = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *x = wr + i * xbytes;
        const uint8_t *qs = x + (five ? 48 : 16);
        const __m256i sm = _mm256_cvtepu8_epi16(hm_scales_mins_k4(x + 4));
        const __m256i scales = _mm256_permute2x128_si256(sm, sm, 0x00);
        const __m128i mins = _mm256_extracti128_si256(sm, 1);
        const __m256i hbits = five ? hm_loadu(x + 16) : _mm256_setzero_si256();
        float d, dmin;
        hm_h2f_pair(x, &d, &dmin);
        int16_t mn[8];
        if (per_64) _mm_storeu_si128((__m128i *)mn, mins);
        __m256i sumi[HM_KTOKENS];
        for (int t = 0; t < nt; ++t) sumi[t] = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const __m256i bits = hm_loadu(qs + 32 * j);
            __m256i lo = _mm256_and_si256(bits, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            if (five) {
                // Bit 2j of each qh byte is the fifth bit of the low nibble, bit 2j+1 of the high one.
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hbits, 2 * j), 4), bit5));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hbits, 2 * j + 1), 4), bit5));
            }
            const __m256i sl = hm_pick_i16(scales, 2 * j), sh = hm_pick_i16(scales, 2 * j + 1);
            for (int t = 0; t < nt; ++t) {
                const uint8_t *q8 = a0 + t * act_bytes + i * HM_Q8_K + 4 + 64 * j;
                const __m256i pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(lo, hm_loadu(q8)));
                const __m256i ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(hi, hm_loadu(q8 + 32)));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(pl, ph));
                if (per_64) {
                    const uint8_t *y = a0 + t * act_bytes + i * HM_Q8_K;
                    const float yd = hm_load_f32(y);
                    int16_t bs[16];
                    memcpy(bs, y + 260, 32);
                    const int32_t msum = mn[2 * j] * (bs[4 * j] + bs[4 * j + 1]) + mn[2 * j + 1] * (bs[4 * j + 2] + bs[4 * j + 3]);
                    scalar_acc[t] = __builtin_fmaf((float)hm_hsum_i32x8(sumi[t]), d * yd, scalar_acc[t]);
                    mins_acc[t] = __builtin_fmaf((float)msum, dmin * yd, mins_acc[t]);
                    sumi[t] = _mm256_setzero_si256();
                }
            }
        }
        if (per_64) continue;
        for (int t = 0; t < nt; ++t) {
            const uint8_t *y = a0 + t * act_bytes + i * HM_Q8_K;
            const float yd = hm_load_f32(y);
            const __m128i mins4 = hm_mins_dot(mins, y);
            const int32_t msum = hm_hsum_i32x4(mins4);
            if (lanes) acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(yd * d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            if (five) {
                mins_acc[t] = __builtin_fmaf(-(yd * dmin), (float)msum, mins_acc[t]);
            } else if (lanes) {
                mins_lanes[t] = _mm_fmadd_ps(_mm_set1_ps(-(yd * dmin)), _mm_cvtepi32_ps(mins4), mins_lanes[t]);
            } else {
                scalar_acc[t] = __builtin_fmaf((float)hm_hsum_i32x8(sumi[t]), d * yd, scalar_acc[t]);
                mins_acc[t] = __builtin_fmaf((float)msum, dmin * yd, mins_acc[t]);
            }
        }
    }
    for (int t = 0; t < nt; ++t) {
        if (lanes && !five) {
            // (m0 + m2) + (m1 + m3), as ggml folds its four mins lanes.
            __m128 m = _mm_add_ps(mins_lanes[t], _mm_movehl_ps(mins_lanes[t], mins_lanes[t]));
            m = _mm_add_ss(m, _mm_movehdup_ps(m));
            out[t * out_stride] = hm_hsum_f32x8(acc[t]) + _mm_cvtss_f32(m);
        } else {
            out[t * out_stride] = five ? hm_hsum_f32x8(acc[t]) + mins_acc[t] : scalar_acc[t] - mins_acc[t];
        }
    }
}

// One Q6_K row against nt tokens. Quants keep their +32 bias as unsigned 6-bit bytes for
// maddubs; the bias comes off once per block as 32 * sum(scale * bsum).
HM_AVX2 HM_INLINE void hm_q6_chunk(const uint8_t *wr, int64_t nb, const uint8_t *a0, size_t act_bytes,
                                   int nt, float *out, int64_t out_stride) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i pick = _mm_set_epi64x(0x0101010101010101LL, 0);
    __m256 acc[HM_KTOKENS];
    for (int t = 0; t < nt; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *x = wr + i * HM_Q6_K;
        const __m128i sc = _mm_loadu_si128((const __m128i *)(x + 192));
        __m256i sumi[HM_KTOKENS];
        for (int t = 0; t < nt; ++t) sumi[t] = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            const __m256i l0 = hm_loadu(x + 64 * half);
            const __m256i l1 = hm_loadu(x + 64 * half + 32);
            const __m256i h = hm_loadu(x + 128 + 32 * half);
            __m256i q[4];
            // Quarter k: low nibbles of l0/l1 for k = 0/1, high nibbles for k = 2/3; top bits at 2k.
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
            for (int k = 0; k < 4; ++k) {
                // int16 scales: group 2v for lanes 0..7, group 2v+1 for lanes 8..15 (v = 4 half + k).
                const int v = 4 * half + k;
                const __m256i s = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, _mm_add_epi8(pick, _mm_set1_epi8((char)(2 * v)))));
                for (int t = 0; t < nt; ++t) {
                    const uint8_t *q8 = a0 + t * act_bytes + i * HM_Q8_K + 4 + 32 * v;
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(s, _mm256_maddubs_epi16(q[k], hm_loadu(q8))));
                }
            }
        }
        const __m256i s_all = _mm256_cvtepi8_epi16(sc);
        const float d = hm_h2f(x + 208);
        for (int t = 0; t < nt; ++t) {
            const uint8_t *y = a0 + t * act_bytes + i * HM_Q8_K;
            const __m256i bias = _mm256_slli_epi32(_mm256_madd_epi16(hm_loadu(y + 260), s_all), 5);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(hm_load_f32(y) * d),
                                     _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[t], bias)), acc[t]);
        }
    }
    for (int t = 0; t < nt; ++t) out[t * out_stride] = hm_hsum_f32x8(acc[t]);
}

// Rows outer, token chunks inner; each chunk size gets its own inlined copy.
#define HM_KQ_DRIVER(chunk_call)                                                                 \
    const int64_t nb = cols / 256;                                                               \
    for (int64_t r = 0; r < rows; ++r) {                                                         \
        const uint8_t *wr = (const uint8_t *)w + r * row_bytes;                                  \
        for (int64_t t0 = 0; t0 < tokens; t0 += HM_KTOKENS) {                                    \
            const uint8_t *a0 = (const uint8_t *)act + t0 * act_bytes;                           \
            float *o = out + r + t0 * out_stride;                                                \
            switch (tokens - t0 < HM_KTOKENS ? (int)(tokens - t0) : HM_KTOKENS) {                \
            case 1: chunk_call(1); break;                                                        \
            case 2: chunk_call(2); break;                                                        \
            case 3: chunk_call(3); break;                                                        \
            case 4: chunk_call(4); break;                                                        \
            case 5: chunk_call(5); break;                                                        \
            case 6: chunk_call(6); break;                                                        \
            case 7: chunk_call(7); break;                                                        \
            default: chunk_call(8); break;                                                       \
            }                                                                                    \
        }                                                                                        \
    }
_Static_assert(HM_KTOKENS == 8, "HM_KQ_DRIVER has one case per chunk size 1...8");

#define HM_Q4_CALL(n) hm_q45_chunk(wr, nb, 0, a0, act_bytes, n, o, out_stride, HM_Q4_GEMV)
#define HM_Q4_GEMM_CALL(n) hm_q45_chunk(wr, nb, 0, a0, act_bytes, n, o, out_stride, HM_Q4_GEMM)
#define HM_Q4_VEC_DOT_CALL(n) hm_q45_chunk(wr, nb, 0, a0, act_bytes, n, o, out_stride, HM_Q4_VEC_DOT)
#define HM_Q5_CALL(n) hm_q45_chunk(wr, nb, 1, a0, act_bytes, n, o, out_stride, HM_Q4_GEMV)
#define HM_Q6_CALL(n) hm_q6_chunk(wr, nb, a0, act_bytes, n, o, out_stride)

HM_AVX2 HM_MATMUL_DECL(hm_matmul_q4_K_q8_K) { HM_KQ_DRIVER(HM_Q4_CALL) }
HM_AVX2 HM_MATMUL_DECL(hm_matmul_q4_K_q8_K_gemm) { HM_KQ_DRIVER(HM_Q4_GEMM_CALL) }
HM_AVX2 HM_MATMUL_DECL(hm_matmul_q4_K_q8_K_vec_dot) { HM_KQ_DRIVER(HM_Q4_VEC_DOT_CALL) }
HM_AVX2 HM_MATMUL_DECL(hm_matmul_q5_K_q8_K) { HM_KQ_DRIVER(HM_Q5_CALL) }
HM_AVX2 HM_MATMUL_DECL(hm_matmul_q6_K_q8_K) { HM_KQ_DRIVER(HM_Q6_CALL) }



// ---- Q4_K repacked eight rows at a time ---------------------------------------------------
// A decode-friendly layout: for each group of 8 rows and each 256-element block, one
// 1184-byte record (the 8 rows' 144-byte blocks hold 1152):
//   0    d[8], dmin[8]                    fp16, row order
//   32   scales: for each pair j of 32-element sub-blocks, per row r: sc[r][2j], sc[r][2j+1]
//   96   mins:   the same arrangement
//   160  quants: for each j and each 4-element step q of a sub-block, per row r the 4 bytes
//        qs[32j + 4q .. 32j + 4q + 3] of that row (low nibbles: sub-block 2j, high: 2j+1)
// With rows in the lanes, the activations are broadcast, the products of eight rows come out
// in one vector, and scales, mins and the float steps are paid once per eight rows.
#define HM_Q4_KX8 1184

HM_AVX2 void hm_repack_q4_K_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst) {
    const int64_t nb = cols / 256;
    for (int64_t g = 0; g < rows / 8; ++g) {
        for (int64_t i = 0; i < nb; ++i) {
            uint8_t *o = (uint8_t *)dst + (g * nb + i) * HM_Q4_KX8;
            for (int r = 0; r < 8; ++r) {
                const uint8_t *x = (const uint8_t *)src + (g * 8 + r) * row_bytes + i * HM_Q4_K;
                memcpy(o + 2 * r, x, 2);
                memcpy(o + 16 + 2 * r, x + 2, 2);
                uint8_t sm[16];
                _mm_storeu_si128((__m128i *)sm, hm_scales_mins_k4(x + 4));
                for (int j = 0; j < 4; ++j) {
                    o[32 + 16 * j + 2 * r] = sm[2 * j];
                    o[32 + 16 * j + 2 * r + 1] = sm[2 * j + 1];
                    o[96 + 16 * j + 2 * r] = sm[8 + 2 * j];
                    o[96 + 16 * j + 2 * r + 1] = sm[8 + 2 * j + 1];
                }
                for (int j = 0; j < 4; ++j)
                    for (int q = 0; q < 8; ++q) memcpy(o + 160 + (j * 8 + q) * 32 + 4 * r, x + 16 + 32 * j + 4 * q, 4);
            }
        }
    }
}

// Eight rows (one group) against one token: out[0..7]. The float steps follow llama.cpp's
// repacked q4_K_8x8 kernels: `per_64` = 0 as its gemv (one multiply-add per block into each of
// the sums and mins chains), 1 as its gemm (one per 64-element quarter of a block, which it
// runs for the first n - n % 4 tokens of a dense batch of n > 3).
HM_AVX2 HM_INLINE __m256 hm_q4_kx8_token(const uint8_t *w, int64_t nb, const uint8_t *a, const int per_64) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i even = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13,
                                          0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    const __m256i odd = _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15,
                                         2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15);
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i, w += HM_Q4_KX8) {
        const uint8_t *y = a + i * HM_Q8_K;
        const uint8_t *q8 = y + 4;
        // Sub-block sums of the activations (pairs of Q8_K's 16-element sums), int16 g0..g7.
        const __m256i bs = hm_loadu(y + 260);
        const __m256i pairs = _mm256_castsi128_si256(
            _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1)));
        const __m256 yd = _mm256_set1_ps(hm_load_f32(y));
        const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w)), yd);
        const __m256 dmin = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 16))), yd);
        __m256i isum = _mm256_setzero_si256(), msum = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const uint8_t *qs = w + 160 + j * 256;
            __m256i plo = _mm256_setzero_si256(), phi = _mm256_setzero_si256();
            for (int q = 0; q < 8; ++q) {
                const __m256i bits = hm_loadu(qs + 32 * q);
                int32_t alo, ahi;
                memcpy(&alo, q8 + 64 * j + 4 * q, 4);
                memcpy(&ahi, q8 + 64 * j + 32 + 4 * q, 4);
                plo = _mm256_add_epi16(plo, _mm256_maddubs_epi16(_mm256_and_si256(bits, m4), _mm256_set1_epi32(alo)));
                phi = _mm256_add_epi16(phi, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                                                 _mm256_set1_epi32(ahi)));
            }
            const __m256i sc = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(w + 32 + 16 * j)));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(_mm256_madd_epi16(plo, _mm256_shuffle_epi8(sc, even)),
                                                           _mm256_madd_epi16(phi, _mm256_shuffle_epi8(sc, odd))));
            const __m256i mn = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(w + 96 + 16 * j)));
            msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mn, _mm256_permutevar8x32_epi32(pairs, _mm256_set1_epi32(j))));
            if (per_64) {
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
                acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), dmin, acc_min);
                isum = msum = _mm256_setzero_si256();
            }
        }
        if (!per_64) {
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
            acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), dmin, acc_min);
        }
    }
    // ggml_gemv/gemm_q4_K_8x8_q8_K: one chain per row for the sums and one for the mins.
    return _mm256_sub_ps(acc, acc_min);
}

// `w` points at the first group of the range, `rows` is a multiple of 8, and row_bytes is the
// repacked size per row (1184 / 8 per block), so group g is at w + g * 8 * row_bytes.
HM_AVX2 HM_INLINE void hm_q4_kx8_matmul(const void *w, size_t row_bytes, int64_t cols, int64_t rows, const void *act,
                                         size_t act_bytes, int64_t tokens, float *out, int64_t out_stride, const int per_64) {
    const int64_t nb = cols / 256;
    for (int64_t g = 0; g < rows / 8; ++g) {
        const uint8_t *wg = (const uint8_t *)w + g * 8 * row_bytes;
        for (int64_t t = 0; t < tokens; ++t) {
            const __m256 s = hm_q4_kx8_token(wg, nb, (const uint8_t *)act + t * act_bytes, per_64);
            float *o = out + 8 * g + t * out_stride;
            _mm256_storeu_ps(o, s);
        }
    }
}

HM_AVX2 HM_MATMUL_DECL(hm_matmul_q4_K_x8_q8_K) { hm_q4_kx8_matmul(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, 0); }
HM_AVX2 HM_MATMUL_DECL(hm_matmul_q4_K_x8_q8_K_gemm) { hm_q4_kx8_matmul(w, row_bytes, cols, rows, act, act_bytes, tokens, out, out_stride, 1); }

#else  // not x86-64: never dispatched to (hm_cpu_features() returns 0).
HM_MATMUL_DECL(hm_matmul_q4_K_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q4_K_q8_K_gemm) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q4_K_q8_K_vec_dot) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q5_K_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q6_K_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q4_K_x8_q8_K) { __builtin_trap(); }
HM_MATMUL_DECL(hm_matmul_q4_K_x8_q8_K_gemm) { __builtin_trap(); }
void hm_repack_q4_K_x8(const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst) { __builtin_trap(); }
#endif
