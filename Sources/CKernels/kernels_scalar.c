/// The portable kernels (no intrinsics): the only path off x86-64, and on x86-64 a second, column-by-column reading
/// of the panels that the SIMD variants are tested against. Same integer sums, same float epilogue in the same
/// order (`fmaf` where the SIMD code fuses), so the outputs are bit-identical.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "layout.h"

static float half_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {  // subnormal: exact as a float
        float value = (float)mantissa * (1.0f / 16777216.0f);
        return sign ? -value : value;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// Byte `k` (0–3) of column group `c / 4` of row `r` in a plane of 32-byte groups.
static unsigned plane_byte(const uint8_t *plane, int r, int c) { return plane[32 * (c >> 2) + 4 * r + (c & 3)]; }

/// The integer quant of row `r`, column `c` of sub-block `s` of a panel block.
static int weight(int type, const uint8_t *block, int s, int r, int c) {
    const bk_layout L = bk_layout_of(type);
    const uint8_t *q = block + L.quants, *hi = block + L.high;
    switch (type) {
    case BK_Q4_0: case BK_Q4_1: case BK_Q5_0: case BK_Q5_1: case BK_IQ4_NL: case BK_IQ4_XS: {
        const unsigned byte = plane_byte(q + 128 * s, r, c & 15), nibble = c < 16 ? byte & 15 : byte >> 4;
        if (type == BK_IQ4_NL || type == BK_IQ4_XS) return bk_iq4_values[nibble];
        if (type == BK_Q4_0 || type == BK_Q4_1) return (int)nibble;
        // The permuted qh word: vector n = 4G + i of group G holds columns (left, left + 2).
        const int h = c >> 4, cc = c & 15, within = cc & 7;
        const int G = (cc >> 3) + 2 * h, i = (within & 1) + 2 * (within >> 2), side = (within >> 1) & 1;
        uint32_t word;
        memcpy(&word, hi + 4 * r, 4);
        const int q5 = (int)nibble | (int)((word >> (16 * side + 4 * G + i)) & 1) << 4;
        return type == BK_Q5_0 ? q5 - 16 : q5;
    }
    case BK_Q8_0:
        return (int8_t)q[32 * (2 * ((c & 15) >> 2) + (c >> 4)) + 4 * r + (c & 3)];
    case BK_Q4_K: case BK_Q5_K: {
        const unsigned byte = plane_byte(q + 256 * (s >> 1), r, c);
        const int low = (int)((byte >> (4 * (s & 1))) & 15);
        return type == BK_Q4_K ? low : low | (int)((plane_byte(hi, r, c) >> s) & 1) << 4;
    }
    case BK_Q6_K: {
        const int half = s >> 2, j = s & 3;
        const int low = (int)((plane_byte(q + 256 * (2 * half + (j & 1)), r, c) >> (4 * (j >> 1))) & 15);
        const int high = (int)((plane_byte(hi + 256 * half, r, c) >> (2 * j)) & 3);
        return (low | high << 4) - 32;
    }
    case BK_Q3_K: case BK_Q2_K: {
        const int low = (int)((plane_byte(q + 256 * (s >> 2), r, c) >> (2 * (s & 3))) & 3);
        return type == BK_Q2_K ? low : (low | (int)((plane_byte(hi, r, c) >> s) & 1) << 2) - 4;
    }
    }
    return 0;
}

/// Column of the low and high half of activation pair `p` within a 32-column block.
static void pair_columns(int p, int *low, int *high) {
    static const int first[4] = {0, 16, 1, 17};
    *low = 4 * (p >> 2) + first[p & 3];
    *high = *low + 2;
}

/// Adds sub-block `s` (activation block `b`) of a panel block to one token's 8 row accumulators, its weights `w`
/// already decoded (`w[r][c]`).
static void sub_block(int type, const uint8_t *block, int s, long b, const int16_t w[8][32], const bk_activations *x,
                      long token, float acc[8]) {
    static const int order[4] = {0, 2, 1, 3};
    const bk_layout L = bk_layout_of(type);
    const long index = token * x->blocks + b;
    int16_t a[32];
    for (int p = 0; p < 16; p++) {
        int low, high;
        pair_columns(p, &low, &high);
        const uint32_t pair = x->pairs[16 * index + p];
        a[low] = (int16_t)(pair & 0xFFFF);
        a[high] = (int16_t)(pair >> 16);
    }
    const float *xs = x->scales + 4 * index;
    for (int r = 0; r < 8; r++) {
        int32_t I[4];
        for (int G = 0; G < 4; G++) {
            I[G] = 0;
            for (int c = 8 * G; c < 8 * G + 8; c++) I[G] += w[r][c] * a[c];
        }
        const float d = half_to_float(block + L.d + 2 * r);
        if (bk_has_halves(type)) {
            for (int u = 0; u < 2; u++) {
                float S = 0;
                S = fmaf((float)I[2 * u], xs[2 * u], S);
                S = fmaf((float)I[2 * u + 1], xs[2 * u + 1], S);
                const uint8_t sc = block[L.scales + 8 * (2 * s + u) + r];
                acc[r] = fmaf(S, d * (type == BK_Q2_K ? (float)(sc & 15) : (float)(int8_t)sc), acc[r]);
                if (type == BK_Q2_K) {
                    const float O = -(half_to_float(block + L.m + 2 * r) * (float)(sc >> 4));
                    acc[r] = fmaf(O, x->sums16[2 * index + u], acc[r]);
                }
            }
            continue;
        }
        float S = 0;
        for (int k = 0; k < 4; k++) S = fmaf((float)I[order[k]], xs[order[k]], S);
        float D = d, O = 0;
        int offset = 1;
        switch (type) {
        case BK_Q4_0: O = d * -8.0f; break;
        case BK_Q4_1: case BK_Q5_1: O = half_to_float(block + L.m + 2 * r); break;
        case BK_Q4_K: case BK_Q5_K:
            D = d * (float)block[L.scales + 8 * s + r];
            O = -(half_to_float(block + L.m + 2 * r) * (float)block[L.mins + 8 * s + r]);
            break;
        case BK_IQ4_XS: D = d * (float)(int8_t)block[L.scales + 8 * s + r]; offset = 0; break;
        default: offset = 0;
        }
        acc[r] = fmaf(S, D, acc[r]);
        if (offset) acc[r] = fmaf(O, x->sums[index], acc[r]);
    }
}

void bk_multiply_scalar(const bk_matrix *m, const bk_activations *x, long p0, long p1, long tokens, float *y,
                        const float *bias) {
    const bk_layout L = bk_layout_of(m->type);
    const long panelBytes = m->superblocks * L.stride;
    float *acc = malloc(sizeof(float) * 8 * (size_t)(tokens > 0 ? tokens : 1));
    if (!acc) abort();
    for (long p = p0; p < p1; p++) {
        for (long i = 0; i < 8 * tokens; i++) acc[i] = 0;
        // Each sub-block's weights are decoded once for every token; each token's accumulators still see the
        // sub-blocks in order, so the results do not depend on the number of tokens.
        for (long sb = 0; sb < m->superblocks; sb++) {
            const uint8_t *block = m->base + p * panelBytes + sb * L.stride;
            for (int s = 0; s < L.subs; s++) {
                int16_t w[8][32];
                for (int r = 0; r < 8; r++) {
                    for (int c = 0; c < 32; c++) w[r][c] = (int16_t)weight(m->type, block, s, r, c);
                }
                for (long t = 0; t < tokens; t++) sub_block(m->type, block, s, sb * L.subs + s, w, x, t, acc + 8 * t);
            }
        }
        for (long t = 0; t < tokens; t++) {
            for (long r = 0; r < 8 && 8 * p + r < m->rows; r++) {
                y[t * m->rows + 8 * p + r] = bias ? acc[8 * t + r] + bias[8 * p + r] : acc[8 * t + r];
            }
        }
    }
    free(acc);
}
