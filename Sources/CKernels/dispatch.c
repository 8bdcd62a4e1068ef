/// Which instruction sets this CPU runs (CPUID, and XGETBV for the register state the OS saves), and the entry point
/// that sends a product to the chosen variant.
#include "layout.h"

typedef void (*bk_kernel)(const bk_matrix *, const bk_activations *, long, long, long, float *, const float *);

void bk_multiply_scalar(const bk_matrix *, const bk_activations *, long, long, long, float *, const float *);

#if defined(__x86_64__)
#include <cpuid.h>

void bk_multiply_avx2(const bk_matrix *, const bk_activations *, long, long, long, float *, const float *);
void bk_multiply_avxvnni(const bk_matrix *, const bk_activations *, long, long, long, float *, const float *);
void bk_multiply_avx512vnni(const bk_matrix *, const bk_activations *, long, long, long, float *, const float *);

/// The extended control register 0: which register sets the OS saves on a context switch.
static uint64_t xcr0(void) {
    uint32_t low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    return ((uint64_t)high << 32) | low;
}

/// Bit `i` of each `level`'s support, computed once.
static int detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 1 << BK_SCALAR;  // no OSXSAVE
    const uint64_t xcr = xcr0();
    const int ymm = (xcr & 0x6) == 0x6, zmm = (xcr & 0xE6) == 0xE6;
    const int fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    unsigned a7, b7, c7, d7, a71 = 0, b71, c71, d71;
    if (!__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7)) return 1 << BK_SCALAR;
    if (a7 >= 1) __get_cpuid_count(7, 1, &a71, &b71, &c71, &d71);
    const int avx2 = ymm && fma && f16c && ((b7 >> 5) & 1);
    const int avx512 = avx2 && zmm && ((b7 >> 16) & 1) && ((b7 >> 30) & 1) && ((b7 >> 31) & 1);  // F, BW, VL
    int levels = 1 << BK_SCALAR;
    if (avx2) levels |= 1 << BK_AVX2;
    if (avx2 && ((a71 >> 4) & 1)) levels |= 1 << BK_AVXVNNI;
    if (avx512 && ((c7 >> 11) & 1)) levels |= 1 << BK_AVX512VNNI;
    return levels;
}
#else
static int detect(void) { return 1 << BK_SCALAR; }
#endif

int bk_supported(bk_level level) {
    static int cached = -1;  // every thread that races here computes the same value
    int levels = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (levels < 0) __atomic_store_n(&cached, levels = detect(), __ATOMIC_RELAXED);
    return (unsigned)level <= BK_AVX512VNNI && ((levels >> level) & 1);
}

bk_layout bk_panel_layout(int type) { return bk_layout_of(type); }

void bk_multiply(bk_level level, const bk_matrix *m, const bk_activations *x, long p0, long p1, long tokens, float *y,
                 const float *bias) {
    bk_kernel kernel = bk_multiply_scalar;
#if defined(__x86_64__)
    switch (level) {
    case BK_AVX2: kernel = bk_multiply_avx2; break;
    case BK_AVXVNNI: kernel = bk_multiply_avxvnni; break;
    case BK_AVX512VNNI: kernel = bk_multiply_avx512vnni; break;
    default: break;
    }
#endif
    kernel(m, x, p0, p1, tokens, y, bias);
}
