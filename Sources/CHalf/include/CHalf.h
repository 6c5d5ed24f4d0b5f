#ifndef CHALF_H
#define CHALF_H

#include <stddef.h>

/// Conversions between 16-bit floats and float32 for weights kept in half precision.
/// F16C instructions are used when the CPU has them (checked once at run time), a scalar
/// loop otherwise; both give the same results. Sources may be unaligned.

/// IEEE binary16 → float32 (exact).
void chalf_f16_to_f32(const void *source, float *destination, size_t count);

/// bfloat16 → float32 (exact: the upper half of a float32).
void chalf_bf16_to_f32(const void *source, float *destination, size_t count);

/// float32 → IEEE binary16, rounding to nearest even (overflow gives ±infinity, NaN stays NaN).
void chalf_f32_to_f16(const float *source, void *destination, size_t count);

/// float32 → bfloat16, rounding to nearest even (NaN stays NaN).
void chalf_f32_to_bf16(const float *source, void *destination, size_t count);

/// Whether the F16C path is in use (for benchmarks and diagnostics).
int chalf_has_f16c(void);

#endif
