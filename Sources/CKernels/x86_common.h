// Shared helpers for the AVX2 kernels. Included only by x86-64 translation units.
#ifndef HOTMOE_X86_COMMON_H
#define HOTMOE_X86_COMMON_H
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

// Per-function target attributes instead of -march flags: the library must still load and run
// (through the Swift fallback) on x86-64 CPUs without AVX2.
#define HM_AVX2 __attribute__((target("avx2,fma,f16c")))
#define HM_INLINE static inline __attribute__((always_inline))
// AVX-512 VNNI on 256-bit vectors (dpbusd), for kernels dispatched where CPU.avx512vnni.
#define HM_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

// Tokens handled per pass over a weight row in the 32-element block kernels: each weight block
// is loaded (and unpacked) once per chunk and then dotted with every token's activation block.
#define HM_TOKENS 8

// ggml block sizes in bytes.
enum { HM_Q4_0 = 18, HM_Q8_0 = 34, HM_Q4_K = 144, HM_Q5_K = 176, HM_Q6_K = 210, HM_Q8_K = 292 };

HM_AVX2 HM_INLINE float hm_h2f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    // Left alone, clang turns this into vpinsrw into whatever register is live (in the Q8_0 loop:
    // the FMA accumulator), chaining every block's scale load onto the previous FMA. The empty
    // asm pins a zero-extending movd, which depends on nothing.
    __m128i v = _mm_cvtsi32_si128(h);
    __asm__("" : "+x"(v));
    return _mm_cvtss_f32(_mm_cvtph_ps(v));
}

// Two adjacent halves (Q4_K/Q5_K's d and dmin) with one 32-bit load, which zero-extends.
HM_AVX2 HM_INLINE void hm_h2f_pair(const uint8_t *p, float *a, float *b) {
    int32_t u;
    memcpy(&u, p, 4);
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(u));
    *a = _mm_cvtss_f32(f);
    *b = _mm_cvtss_f32(_mm_movehdup_ps(f));
}

HM_AVX2 HM_INLINE float hm_load_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

HM_AVX2 HM_INLINE __m256i hm_loadu(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

HM_AVX2 HM_INLINE int32_t hm_hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

HM_AVX2 HM_INLINE int32_t hm_hsum_i32x4(__m128i s) {
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

HM_AVX2 HM_INLINE float hm_hsum_f32x8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Signed int8 dot of 32 lanes into 8 int32 lanes. |x| may be 128 but y must lie in [-127, 127]
// (true for every activation our quantisers produce), so the maddubs pairs cannot saturate.
HM_AVX2 HM_INLINE __m256i hm_dot_i8x32(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

// 16 bytes of nibbles as 32 unsigned values in element order (low nibbles first).
HM_AVX2 HM_INLINE __m256i hm_nibbles32(const uint8_t *qs) {
    const __m128i bits = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m4 = _mm_set1_epi8(0xF);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bits, 4), m4), _mm_and_si128(bits, m4));
}

// A 16-entry int8 code book in both lanes, for nibble look-ups with shuffle_epi8.
HM_AVX2 HM_INLINE __m256i hm_codebook(const int8_t *values) {
    const __m128i t = _mm_loadu_si128((const __m128i *)values);
    return _mm256_set_m128i(t, t);
}

#endif
#endif
