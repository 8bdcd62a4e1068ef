/// Integer matrix kernels on packed quantized weights, in C with x86 intrinsics (`vpmaddwd`, `vpdpwssd`), chosen at
/// run time from the CPU's features. Swift's `PackedMatrix` packs the weights into 8-row panels and quantizes the
/// activations (`QuantizedActivations`); these kernels compute the same integer group sums and the same float
/// epilogue as the Swift reference kernels, so every path gives bit-identical outputs.
///
/// The panel layout of each encoding and its epilogue are documented in `Sources/Kernels/PanelLayout.swift`.
#ifndef BRIGADE_CKERNELS_H
#define BRIGADE_CKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Weight encodings, by their GGML type id (Swift's `TensorType` raw values).
enum {
    BK_Q4_0 = 2, BK_Q4_1 = 3, BK_Q5_0 = 6, BK_Q5_1 = 7, BK_Q8_0 = 8,
    BK_Q2_K = 10, BK_Q3_K = 11, BK_Q4_K = 12, BK_Q5_K = 13, BK_Q6_K = 14,
    BK_IQ4_NL = 20, BK_IQ4_XS = 23,
};

/// Instruction sets a kernel can be run with.
typedef enum {
    /// Portable C, no intrinsics (the only path off x86-64).
    BK_SCALAR = 0,
    /// AVX2: `vpmaddwd` + `vpaddd` (the x86-64-v3 baseline every build requires).
    BK_AVX2 = 1,
    /// AVX-VNNI (VEX-encoded `vpdpwssd` on ymm: Alder Lake, Zen 5).
    BK_AVXVNNI = 2,
    /// AVX512-VNNI with AVX512VL (EVEX `vpdpwssd` on ymm, 32 registers: Ice Lake, Zen 4).
    BK_AVX512VNNI = 3,
} bk_level;

/// Whether this CPU (and its operating system, for the AVX-512 register state) can run `level`, and this build
/// contains it.
int bk_supported(bk_level level);

/// A `QuantizedActivations`: quants as Int16 pairs `[token][block][16]`, f32 scales `[token][block][4]` (groups of
/// 8 columns), f32 sums of the unquantized values `[token][block]` (32 columns) and `[token][block][2]` (16 columns).
typedef struct {
    const uint32_t *pairs;
    const float *scales;
    const float *sums;
    const float *sums16;
    long blocks;
} bk_activations;

/// A `PackedMatrix`: `rows` rows in panels of 8; each panel is `superblocks` panel blocks of `stride` bytes (one per
/// GGUF block of the encoding: 32 columns, or 256 for K-quants and IQ4_XS).
typedef struct {
    int type;
    const uint8_t *base;
    long rows;
    long superblocks;
    long stride;
} bk_matrix;

/// Where the parts of one 8-row panel block of an encoding lie (byte offsets; -1 when the encoding has no such part).
/// An 8-wide array holds one entry per row lane `r` (f16 at `+2r`, a byte at `+r`, a 32-bit word at `+4r`).
typedef struct {
    /// Bytes of one panel block (8 GGUF blocks).
    int stride;
    /// 32-column sub-blocks per block (1, or 8 for 256-column blocks).
    int subs;
    /// `d[8]` (f16).
    int d;
    /// `m[8]` (Q4_1, Q5_1) or `dmin[8]` (Q4_K, Q5_K, Q2_K), f16.
    int m;
    /// Per sub-block scale bytes `[sub][8]` (K-quants: 8 or 16 sub-blocks; IQ4_XS: 8).
    int scales;
    /// Per sub-block min bytes `[sub][8]` (Q4_K, Q5_K).
    int mins;
    /// High bits: Q5_0/Q5_1 permuted `qh` words, Q5_K `qh`, Q6_K `qh`, Q3_K `hmask`.
    int high;
    /// Quants, in groups of 32 bytes (lane `r` = 4 bytes of row `r`).
    int quants;
} bk_layout;

/// The panel layout of `type` (`stride` 0 when the encoding is not packed).
bk_layout bk_panel_layout(int type);

/// `y[t, r] = Σ_k W[r, k] · x[t, k] (+ bias[r])` for rows of panels `[panel_begin, panel_end)` and every token
/// (`y` is `tokens × rows`, row-major; `bias` may be NULL), with the instruction set `level` (which must be
/// supported).
void bk_multiply(bk_level level, const bk_matrix *matrix, const bk_activations *x, long panel_begin, long panel_end,
                 long tokens, float *y, const float *bias);

#ifdef __cplusplus
}
#endif

#endif
