/// The SIMD kernels, written once and compiled once per instruction set: a variant file defines
/// - `BK_NAME(name)`: the variant's suffix for `name`;
/// - `BK_DOT(acc, w, a)`: `acc + vpmaddwd(w, a)` (exact: products of 16-bit lanes summed in pairs into 32 bits);
/// and includes this file inside a `#pragma clang attribute push(target(...))` region.
///
/// One 256-bit vector holds 8 rows (a panel) × 2 columns as 16-bit lanes: row `r` in lanes `2r` and `2r+1`. A
/// 32-column sub-block of activations is 16 Int16 pairs; pair `p` broadcast to every 32-bit lane multiplies the
/// weights of its two columns in all 8 rows, and `vpmaddwd` adds the two products into row `r`'s 32-bit lane.
/// Group `G` (columns `8G ..< 8G+8`) is 4 such vectors, pairs `base(G) + 0, 2, 4, 6` with
/// `base(G) = 8·(G & 1) + (G >> 1)` (see `QuantizedActivations` for the pair order).
#include <immintrin.h>
#include "layout.h"

#define BK_INLINE static inline __attribute__((always_inline))

/// 8 f16 values at `p`, as floats (`vcvtph2ps`).
BK_INLINE __m256 BK_NAME(halves)(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/// 8 signed bytes at `p`, as floats.
BK_INLINE __m256 BK_NAME(signed_bytes)(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/// 8 unsigned bytes at `p` masked with `mask` and shifted right by `shift`, as floats.
BK_INLINE __m256 BK_NAME(unsigned_bytes)(const uint8_t *p, int shift, int mask) {
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    return _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(v, shift), _mm256_set1_epi32(mask)));
}

BK_INLINE __m256i BK_NAME(load)(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

/// Bits `[from, from + width)` of each byte pair's low byte (`w[0]`) and high byte (`w[1]`) of `v0`, then of `v1`
/// (`w[2]`, `w[3]`), moved to bit `to` of their 16-bit lane: the columns `(c, c+2)`, `(c+1, c+3)`, `(c+4, c+6)`,
/// `(c+5, c+7)` of a group, as the panels store them (lane `r` of a 32-byte group = 4 bytes of row `r`). `from`
/// may vary at run time (a K-quant's sub-block), so the bits are shifted down, masked, then up.
BK_INLINE void BK_NAME(split)(__m256i v0, __m256i v1, int from, int width, int to, __m256i w[4]) {
    const __m256i mask = _mm256_set1_epi16((int16_t)((1 << width) - 1));
    const __m256i v[2] = {v0, v1};
    for (int i = 0; i < 4; i++) {
        __m256i x = _mm256_and_si256(_mm256_srli_epi16(v[i >> 1], from + 8 * (i & 1)), mask);
        w[i] = to ? _mm256_slli_epi16(x, to) : x;
    }
}

/// Signed bytes of `v0` and `v1` sign-extended into 16-bit lanes: low bytes (`w[0]`, `w[2]`), high bytes (`w[1]`,
/// `w[3]`).
BK_INLINE void BK_NAME(widen)(__m256i v0, __m256i v1, __m256i w[4]) {
    w[0] = _mm256_srai_epi16(_mm256_slli_epi16(v0, 8), 8);
    w[1] = _mm256_srai_epi16(v0, 8);
    w[2] = _mm256_srai_epi16(_mm256_slli_epi16(v1, 8), 8);
    w[3] = _mm256_srai_epi16(v1, 8);
}

/// The IQ4 values of the nibbles at bit `shift` (0 or 4) of every byte of `v0` and `v1` (`vpshufb`), widened.
BK_INLINE void BK_NAME(iq4)(__m256i v0, __m256i v1, int shift, __m256i w[4]) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)bk_iq4_values));
    const __m256i mask = _mm256_set1_epi8(0x0F);
    __m256i n0 = _mm256_and_si256(_mm256_srli_epi16(v0, shift), mask);
    __m256i n1 = _mm256_and_si256(_mm256_srli_epi16(v1, shift), mask);
    BK_NAME(widen)(_mm256_shuffle_epi8(table, n0), _mm256_shuffle_epi8(table, n1), w);
}

BK_INLINE void BK_NAME(add)(__m256i w[4], const __m256i more[4]) {
    for (int i = 0; i < 4; i++) w[i] = _mm256_or_si256(w[i], more[i]);
}

BK_INLINE void BK_NAME(subtract)(__m256i w[4], int16_t value) {
    for (int i = 0; i < 4; i++) w[i] = _mm256_sub_epi16(w[i], _mm256_set1_epi16(value));
}

/// The weight quants of group `G` of sub-block `s` of panel block `block`, as the 4 vectors of 16-bit lanes that
/// meet the group's activation pairs (see the file comment and `PanelLayout.swift`).
BK_INLINE void BK_NAME(unpack)(const int type, const uint8_t *block, int s, int G, __m256i w[4]) {
    const bk_layout L = bk_layout_of(type);
    const uint8_t *q = block + L.quants, *hi = block + L.high;
    __m256i more[4];
    switch (type) {
    case BK_Q4_0: case BK_Q4_1: case BK_Q5_0: case BK_Q5_1: {
        // 32-column blocks: byte j holds columns j (low nibble) and 16 + j (high nibble).
        const uint8_t *g = q + 64 * (G & 1);
        BK_NAME(split)(BK_NAME(load)(g), BK_NAME(load)(g + 32), 4 * (G >> 1), 4, 0, w);
        if (type == BK_Q5_0 || type == BK_Q5_1) {
            // The permuted qh word of row r: bit n of its low (high) half is the fifth bit of vector n's first
            // (second) column, vector n = 4G + i.
            __m256i h = BK_NAME(load)(hi);
            for (int i = 0; i < 4; i++) {
                int n = 4 * G + i;
                __m256i x = n <= 4 ? _mm256_slli_epi16(h, 4 - n) : _mm256_srli_epi16(h, n - 4);
                more[i] = _mm256_and_si256(x, _mm256_set1_epi16(0x10));
            }
            BK_NAME(add)(w, more);
            if (type == BK_Q5_0) BK_NAME(subtract)(w, 16);
        }
        break;
    }
    case BK_Q8_0: {
        const uint8_t *g = q + 32 * (4 * (G & 1) + (G >> 1));
        BK_NAME(widen)(BK_NAME(load)(g), BK_NAME(load)(g + 64), w);
        break;
    }
    case BK_IQ4_NL: case BK_IQ4_XS: {
        const uint8_t *g = q + 128 * s + 64 * (G & 1);
        BK_NAME(iq4)(BK_NAME(load)(g), BK_NAME(load)(g + 32), 4 * (G >> 1), w);
        break;
    }
    case BK_Q4_K: case BK_Q5_K: {
        // 64-column chunks: byte l holds column l of sub-block 2c (low nibble) and of 2c + 1 (high nibble).
        const uint8_t *g = q + 256 * (s >> 1) + 64 * G;
        BK_NAME(split)(BK_NAME(load)(g), BK_NAME(load)(g + 32), 4 * (s & 1), 4, 0, w);
        if (type == BK_Q5_K) {
            // Bit s of qh byte l is the fifth bit of column l of sub-block s.
            BK_NAME(split)(BK_NAME(load)(hi + 64 * G), BK_NAME(load)(hi + 64 * G + 32), s, 1, 4, more);
            BK_NAME(add)(w, more);
        }
        break;
    }
    case BK_Q6_K: {
        // Sub-block s = 4·half + j: low nibbles in chunk 2·half + (j & 1) at bit 4·(j >> 1); two high bits at
        // bit 2j of the half's qh.
        const int half = s >> 2, j = s & 3;
        const uint8_t *g = q + 256 * (2 * half + (j & 1)) + 64 * G, *h = hi + 256 * half + 64 * G;
        BK_NAME(split)(BK_NAME(load)(g), BK_NAME(load)(g + 32), 4 * (j >> 1), 4, 0, w);
        BK_NAME(split)(BK_NAME(load)(h), BK_NAME(load)(h + 32), 2 * j, 2, 4, more);
        BK_NAME(add)(w, more);
        BK_NAME(subtract)(w, 32);
        break;
    }
    case BK_Q3_K: case BK_Q2_K: {
        // Two low bits at bit 2j of the half's quants; Q3_K's third bit is bit s of hmask byte l.
        const int half = s >> 2, j = s & 3;
        const uint8_t *g = q + 256 * half + 64 * G;
        BK_NAME(split)(BK_NAME(load)(g), BK_NAME(load)(g + 32), 2 * j, 2, 0, w);
        if (type == BK_Q3_K) {
            BK_NAME(split)(BK_NAME(load)(hi + 64 * G), BK_NAME(load)(hi + 64 * G + 32), s, 1, 2, more);
            BK_NAME(add)(w, more);
            BK_NAME(subtract)(w, 4);
        }
        break;
    }
    }
}

/// Adds group `G`'s share to each token's sub-block sum: `S[t] = fma(float(I), x_scale[t][G], S[t])` with `I` the
/// exact int32 sum of the group's 8 columns.
BK_INLINE void BK_NAME(group)(const int type, const int T, const uint8_t *block, int s, int G, const uint32_t *const *a,
                              const float *const *xs, __m256 *S) {
    __m256i w[4];
    BK_NAME(unpack)(type, block, s, G, w);
    const int base = 8 * (G & 1) + (G >> 1);
    for (int t = 0; t < T; t++) {
        __m256i I = _mm256_madd_epi16(w[0], _mm256_set1_epi32((int)a[t][base]));
        I = BK_DOT(I, w[1], _mm256_set1_epi32((int)a[t][base + 2]));
        I = BK_DOT(I, w[2], _mm256_set1_epi32((int)a[t][base + 4]));
        I = BK_DOT(I, w[3], _mm256_set1_epi32((int)a[t][base + 6]));
        S[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(I), _mm256_set1_ps(xs[t][G]), S[t]);
    }
}

/// `-v`, flipping the sign bit (as Swift's prefix minus).
BK_INLINE __m256 BK_NAME(negate)(__m256 v) { return _mm256_xor_ps(v, _mm256_set1_ps(-0.0f)); }

/// `T` tokens (from `t0`) through one panel: the weights of each group are unpacked once for all of them.
BK_INLINE void BK_NAME(panel)(const int type, const int T, const uint8_t *panel, long superblocks, const bk_activations *x,
                              long t0, __m256 *acc) {
    const bk_layout L = bk_layout_of(type);
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (long sb = 0; sb < superblocks; sb++) {
        const uint8_t *block = panel + sb * L.stride;
        const __m256 d = BK_NAME(halves)(block + L.d);
        // Unrolled, so a K-quant sub-block's shifts are immediates (and the shifts down and up fold into one).
        #pragma clang loop unroll(full)
        for (int s = 0; s < L.subs; s++) {
            const long b = sb * L.subs + s;
            const uint32_t *a[4];
            const float *xs[4];
            for (int t = 0; t < T; t++) {
                a[t] = x->pairs + ((t0 + t) * x->blocks + b) * 16;
                xs[t] = x->scales + ((t0 + t) * x->blocks + b) * 4;
            }
            if (bk_has_halves(type)) {
                for (int u = 0; u < 2; u++) {
                    __m256 S[4];
                    for (int t = 0; t < T; t++) S[t] = _mm256_setzero_ps();
                    BK_NAME(group)(type, T, block, s, 2 * u, a, xs, S);
                    BK_NAME(group)(type, T, block, s, 2 * u + 1, a, xs, S);
                    const uint8_t *sc = block + L.scales + 8 * (2 * s + u);
                    __m256 D = _mm256_mul_ps(d, type == BK_Q2_K ? BK_NAME(unsigned_bytes)(sc, 0, 15) : BK_NAME(signed_bytes)(sc));
                    for (int t = 0; t < T; t++) acc[t] = _mm256_fmadd_ps(S[t], D, acc[t]);
                    if (type == BK_Q2_K) {
                        __m256 O = BK_NAME(negate)(_mm256_mul_ps(BK_NAME(halves)(block + L.m), BK_NAME(unsigned_bytes)(sc, 4, 15)));
                        for (int t = 0; t < T; t++)
                            acc[t] = _mm256_fmadd_ps(O, _mm256_set1_ps(x->sums16[((t0 + t) * x->blocks + b) * 2 + u]), acc[t]);
                    }
                }
                continue;
            }
            __m256 S[4];
            for (int t = 0; t < T; t++) S[t] = _mm256_setzero_ps();
            BK_NAME(group)(type, T, block, s, 0, a, xs, S);
            BK_NAME(group)(type, T, block, s, 2, a, xs, S);
            BK_NAME(group)(type, T, block, s, 1, a, xs, S);
            BK_NAME(group)(type, T, block, s, 3, a, xs, S);
            __m256 D = d, O = _mm256_setzero_ps();
            int offset = 1;
            switch (type) {
            case BK_Q4_0: O = _mm256_mul_ps(d, _mm256_set1_ps(-8)); break;
            case BK_Q4_1: case BK_Q5_1: O = BK_NAME(halves)(block + L.m); break;
            case BK_Q4_K: case BK_Q5_K:
                D = _mm256_mul_ps(d, BK_NAME(unsigned_bytes)(block + L.scales + 8 * s, 0, 255));
                O = BK_NAME(negate)(_mm256_mul_ps(BK_NAME(halves)(block + L.m), BK_NAME(unsigned_bytes)(block + L.mins + 8 * s, 0, 255)));
                break;
            case BK_IQ4_XS: D = _mm256_mul_ps(d, BK_NAME(signed_bytes)(block + L.scales + 8 * s)); offset = 0; break;
            default: offset = 0;
            }
            for (int t = 0; t < T; t++) acc[t] = _mm256_fmadd_ps(S[t], D, acc[t]);
            if (offset) {
                for (int t = 0; t < T; t++) acc[t] = _mm256_fmadd_ps(O, _mm256_set1_ps(x->sums[(t0 + t) * x->blocks + b]), acc[t]);
            }
        }
    }
}

/// Writes one token's 8 rows of panel `p` (`acc + bias`), dropping the padding rows of a last partial panel.
BK_INLINE void BK_NAME(store)(__m256 acc, long p, long token, long rows, float *y, const float *bias) {
    const long row = 8 * p;
    float *out = y + token * rows + row;
    if (row + 8 <= rows) {
        if (bias) acc = _mm256_add_ps(acc, _mm256_loadu_ps(bias + row));
        _mm256_storeu_ps(out, acc);
    } else {
        float lanes[8];
        _mm256_storeu_ps(lanes, acc);
        for (long r = 0; r < rows - row; r++) out[r] = bias ? lanes[r] + bias[row + r] : lanes[r];
    }
}

/// Panels `[p0, p1)` for every token: tiles of 16 panels stay in cache while the tokens stream past, 4 at a time.
BK_INLINE void BK_NAME(run)(const int type, const bk_matrix *m, const bk_activations *x, long p0, long p1, long tokens,
                            float *y, const float *bias) {
    const long panelBytes = m->superblocks * bk_layout_of(type).stride;
    for (long tile = p0; tile < p1; tile += 16) {
        const long end = tile + 16 < p1 ? tile + 16 : p1;
        long t = 0;
        for (; t + 4 <= tokens; t += 4) {
            for (long p = tile; p < end; p++) {
                __m256 acc[4];
                BK_NAME(panel)(type, 4, m->base + p * panelBytes, m->superblocks, x, t, acc);
                for (int k = 0; k < 4; k++) BK_NAME(store)(acc[k], p, t + k, m->rows, y, bias);
            }
        }
        for (; t < tokens; t++) {
            for (long p = tile; p < end; p++) {
                __m256 acc[1];
                BK_NAME(panel)(type, 1, m->base + p * panelBytes, m->superblocks, x, t, acc);
                BK_NAME(store)(acc[0], p, t, m->rows, y, bias);
            }
        }
    }
}

void BK_NAME(bk_multiply)(const bk_matrix *m, const bk_activations *x, long p0, long p1, long tokens, float *y,
                          const float *bias) {
    switch (m->type) {
    case BK_Q4_0: BK_NAME(run)(BK_Q4_0, m, x, p0, p1, tokens, y, bias); break;
    case BK_Q4_1: BK_NAME(run)(BK_Q4_1, m, x, p0, p1, tokens, y, bias); break;
    case BK_Q5_0: BK_NAME(run)(BK_Q5_0, m, x, p0, p1, tokens, y, bias); break;
    case BK_Q5_1: BK_NAME(run)(BK_Q5_1, m, x, p0, p1, tokens, y, bias); break;
    case BK_Q8_0: BK_NAME(run)(BK_Q8_0, m, x, p0, p1, tokens, y, bias); break;
    case BK_IQ4_NL: BK_NAME(run)(BK_IQ4_NL, m, x, p0, p1, tokens, y, bias); break;
    case BK_Q4_K: BK_NAME(run)(BK_Q4_K, m, x, p0, p1, tokens, y, bias); break;
    case BK_Q5_K: BK_NAME(run)(BK_Q5_K, m, x, p0, p1, tokens, y, bias); break;
    case BK_Q6_K: BK_NAME(run)(BK_Q6_K, m, x, p0, p1, tokens, y, bias); break;
    case BK_Q3_K: BK_NAME(run)(BK_Q3_K, m, x, p0, p1, tokens, y, bias); break;
    case BK_Q2_K: BK_NAME(run)(BK_Q2_K, m, x, p0, p1, tokens, y, bias); break;
    case BK_IQ4_XS: BK_NAME(run)(BK_IQ4_XS, m, x, p0, p1, tokens, y, bias); break;
    }
}
