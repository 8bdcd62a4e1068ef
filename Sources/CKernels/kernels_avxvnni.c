/// The AVX-VNNI kernels: `vpdpwssd` (VEX) multiplies, pair-adds and accumulates in one instruction. Tuned for Zen 5:
/// with the generic or Intel tuning, LLVM's machine combiner splits most of them back into `vpmaddwd` + `vpaddd`.
#if defined(__x86_64__)
#include <immintrin.h>
#include "layout.h"
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avxvnni,tune=znver5"))), apply_to = function)
#define BK_NAME(name) name##_avxvnni
#define BK_DOT(acc, w, a) _mm256_dpwssd_avx_epi32((acc), (w), (a))
#include "simd_kernel.h"
#pragma clang attribute pop
#endif
