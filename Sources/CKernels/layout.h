/// The panel layouts shared by every kernel variant (internal).
#ifndef BRIGADE_CKERNELS_LAYOUT_H
#define BRIGADE_CKERNELS_LAYOUT_H

#include "CKernels.h"

/// `bk_panel_layout`, as a constant table that folds away in kernels specialized on a constant type.
static inline __attribute__((always_inline)) bk_layout bk_layout_of(int type) {
    switch (type) {
    //                          stride subs  d   m  scales mins high quants
    case BK_Q4_0:   return (bk_layout){144, 1, 0, -1, -1, -1, -1, 16};
    case BK_Q4_1:   return (bk_layout){160, 1, 0, 16, -1, -1, -1, 32};
    case BK_Q5_0:   return (bk_layout){176, 1, 0, -1, -1, -1, 16, 48};
    case BK_Q5_1:   return (bk_layout){192, 1, 0, 16, -1, -1, 32, 64};
    case BK_Q8_0:   return (bk_layout){272, 1, 0, -1, -1, -1, -1, 16};
    case BK_IQ4_NL: return (bk_layout){144, 1, 0, -1, -1, -1, -1, 16};
    case BK_Q4_K:   return (bk_layout){1184, 8, 0, 16, 32, 96, -1, 160};
    case BK_Q5_K:   return (bk_layout){1440, 8, 0, 16, 32, 96, 160, 416};
    case BK_Q6_K:   return (bk_layout){1680, 8, 0, -1, 16, -1, 1168, 144};
    case BK_Q3_K:   return (bk_layout){912, 8, 0, -1, 16, -1, 144, 400};
    case BK_Q2_K:   return (bk_layout){672, 8, 0, 16, 32, -1, -1, 160};
    case BK_IQ4_XS: return (bk_layout){1104, 8, 0, -1, 16, -1, -1, 80};
    default:        return (bk_layout){0, 0, -1, -1, -1, -1, -1, -1};
    }
}

/// Encodings whose weight scales are per 16 columns (two per 32-column sub-block): their group sums are combined
/// per half sub-block (groups 0, 1, then 2, 3). All others combine a sub-block's groups in the order 0, 2, 1, 3
/// (the order the Swift kernels of Q4_0 / Q4_1 / Q8_0 use).
static inline __attribute__((always_inline)) int bk_has_halves(int type) {
    return type == BK_Q6_K || type == BK_Q3_K || type == BK_Q2_K;
}

/// The 16 non-linear values of IQ4_NL and IQ4_XS quants.
static const int8_t bk_iq4_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

#endif
