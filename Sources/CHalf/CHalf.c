#include "CHalf.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CHALF_X86 1
#endif

static uint16_t load16(const unsigned char *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static float scalar_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1Fu;
    uint32_t mantissa = h & 0x3FFu;
    uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {
            uint32_t e = 113;
            while ((mantissa & 0x400u) == 0) {
                mantissa <<= 1;
                e -= 1;
            }
            bits = sign | (e << 23) | ((mantissa & 0x3FFu) << 13);
        }
    } else {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t scalar_f32_to_f16(float value) {
    uint32_t x;
    memcpy(&x, &value, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t magnitude = x & 0x7FFFFFFFu;
    if (magnitude >= 0x7F800000u) {  // infinity or NaN (NaN keeps a quiet payload bit)
        return (uint16_t)(sign | 0x7C00u | (magnitude > 0x7F800000u ? 0x200u | ((magnitude >> 13) & 0x3FFu) : 0));
    }
    if (magnitude >= 0x477FF000u) {  // rounds to beyond 65504
        return (uint16_t)(sign | 0x7C00u);
    }
    if (magnitude < 0x38800000u) {  // below 2^-14: subnormal or zero in binary16
        if (magnitude < 0x33000000u) return (uint16_t)sign;  // below half the smallest subnormal
        uint32_t e = magnitude >> 23;
        uint32_t mantissa = (magnitude & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126 - e;  // 14 + (113 - e) ... brings the value to units of 2^-24
        uint32_t result = mantissa >> shift;
        uint32_t rest = mantissa & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (result & 1u))) result += 1;
        return (uint16_t)(sign | result);
    }
    uint32_t result = ((magnitude >> 13) - (112u << 10));
    uint32_t rest = magnitude & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (result & 1u))) result += 1;
    return (uint16_t)(sign | result);
}

static uint16_t scalar_f32_to_bf16(float value) {
    uint32_t x;
    memcpy(&x, &value, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40u);
    uint32_t rounding = 0x7FFFu + ((x >> 16) & 1u);
    return (uint16_t)((x + rounding) >> 16);
}

#ifdef CHALF_X86
__attribute__((target("avx,f16c")))
static void f16c_f16_to_f32(const unsigned char *source, float *destination, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(source + 2 * i));
        _mm256_storeu_ps(destination + i, _mm256_cvtph_ps(h));
    }
    for (; i < count; i++) destination[i] = scalar_f16_to_f32(load16(source + 2 * i));
}

__attribute__((target("avx,f16c")))
static void f16c_f32_to_f16(const float *source, unsigned char *destination, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(source + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(destination + 2 * i), h);
    }
    for (; i < count; i++) {
        uint16_t h = scalar_f32_to_f16(source[i]);
        memcpy(destination + 2 * i, &h, 2);
    }
}

static int detect_f16c(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
}
#endif

int chalf_has_f16c(void) {
#ifdef CHALF_X86
    static int cached = -1;
    if (cached < 0) cached = detect_f16c();
    return cached;
#else
    return 0;
#endif
}

void chalf_f16_to_f32(const void *source, float *destination, size_t count) {
    const unsigned char *s = (const unsigned char *)source;
#ifdef CHALF_X86
    if (chalf_has_f16c()) {
        f16c_f16_to_f32(s, destination, count);
        return;
    }
#endif
    for (size_t i = 0; i < count; i++) destination[i] = scalar_f16_to_f32(load16(s + 2 * i));
}

void chalf_bf16_to_f32(const void *source, float *destination, size_t count) {
    const unsigned char *s = (const unsigned char *)source;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)load16(s + 2 * i) << 16;
        memcpy(destination + i, &bits, 4);
    }
}

void chalf_f32_to_f16(const float *source, void *destination, size_t count) {
    unsigned char *d = (unsigned char *)destination;
#ifdef CHALF_X86
    if (chalf_has_f16c()) {
        f16c_f32_to_f16(source, d, count);
        return;
    }
#endif
    for (size_t i = 0; i < count; i++) {
        uint16_t h = scalar_f32_to_f16(source[i]);
        memcpy(d + 2 * i, &h, 2);
    }
}

void chalf_f32_to_bf16(const float *source, void *destination, size_t count) {
    unsigned char *d = (unsigned char *)destination;
    for (size_t i = 0; i < count; i++) {
        uint16_t h = scalar_f32_to_bf16(source[i]);
        memcpy(d + 2 * i, &h, 2);
    }
}
