/// The AVX512-VNNI kernels on 256-bit vectors (AVX512VL): EVEX `vpdpwssd`, with 32 vector registers and broadcasts
/// folded into the instructions' memory operands.
#if defined(__x86_64__)
#include <immintrin.h>
#include "layout.h"
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"))), apply_to = function)
#define BK_NAME(name) name##_avx512vnni
#define BK_DOT(acc, w, a) _mm256_dpwssd_epi32((acc), (w), (a))
#include "simd_kernel.h"
#pragma clang attribute pop
#endif
