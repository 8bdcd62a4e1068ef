/// The AVX2 kernels (the x86-64-v3 baseline): `vpmaddwd` then `vpaddd`.
#if defined(__x86_64__)
#include <immintrin.h>
#include "layout.h"
#define BK_NAME(name) name##_avx2
#define BK_DOT(acc, w, a) _mm256_add_epi32((acc), _mm256_madd_epi16((w), (a)))
#include "simd_kernel.h"
#endif
