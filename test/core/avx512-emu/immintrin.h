// Stand-in for <immintrin.h> for the AVX-512 emulation check (run.sh):
// simde's portable implementations of the Intel intrinsics, so that
// kernels_avx512.cpp runs on a CPU without AVX-512. simde 0.7.4 (Debian 12)
// lacks a few the kernels use; they are filled in below with scalar code.
#pragma once
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/fma.h>

#include <cstdint>

typedef simde__mmask16 __mmask16;
typedef simde__mmask8 __mmask8;

static inline simde__mmask16 _mm512_cmplt_epi32_mask(simde__m512i a, simde__m512i b) {
  int32_t x[16], y[16];
  simde_mm512_storeu_si512(x, a);
  simde_mm512_storeu_si512(y, b);
  simde__mmask16 m = 0;
  for (int i = 0; i < 16; ++i)
    if (x[i] < y[i]) m = static_cast<simde__mmask16>(m | (1u << i));
  return m;
}

static inline simde__m512d _mm512_cvtps_pd(simde__m256 v) {
  float f[8];
  double d[8];
  simde_mm256_storeu_ps(f, v);
  for (int i = 0; i < 8; ++i) d[i] = f[i];
  return simde_mm512_loadu_pd(d);
}

// Masked loads and stores (the kernels' tails): lanes outside the mask are
// neither read nor written, as on the hardware. The W-lane copies in and
// out of a plain array serve both widths.
template <int W>
static inline void masked_read(float* f, unsigned k, const void* p) {
  for (int i = 0; i < W; ++i) f[i] = (k & (1u << i)) ? static_cast<const float*>(p)[i] : 0.0f;
}
template <int W>
static inline void masked_write(void* p, unsigned k, const float* f) {
  for (int i = 0; i < W; ++i)
    if (k & (1u << i)) static_cast<float*>(p)[i] = f[i];
}

static inline simde__m512 _mm512_maskz_loadu_ps(simde__mmask16 k, const void* p) {
  float f[16];
  masked_read<16>(f, k, p);
  return simde_mm512_loadu_ps(f);
}

static inline void _mm512_mask_storeu_ps(void* p, simde__mmask16 k, simde__m512 v) {
  float f[16];
  simde_mm512_storeu_ps(f, v);
  masked_write<16>(p, k, f);
}

// The 8-float (AVX-512VL) table's masked multiply: lanes outside k keep src.
static inline simde__m256 _mm256_mask_mul_ps(simde__m256 src, simde__mmask8 k, simde__m256 a, simde__m256 b) {
  float s[8], x[8], y[8];
  simde_mm256_storeu_ps(s, src);
  simde_mm256_storeu_ps(x, a);
  simde_mm256_storeu_ps(y, b);
  for (int i = 0; i < 8; ++i)
    if (k & (1u << i)) s[i] = x[i] * y[i];
  return simde_mm256_loadu_ps(s);
}

// The 8-float table's masked loads and stores (tile mode's run heads).
static inline simde__m256 _mm256_maskz_loadu_ps(simde__mmask8 k, const void* p) {
  float f[8];
  masked_read<8>(f, k, p);
  return simde_mm256_loadu_ps(f);
}

static inline void _mm256_mask_storeu_ps(void* p, simde__mmask8 k, simde__m256 v) {
  float f[8];
  simde_mm256_storeu_ps(f, v);
  masked_write<8>(p, k, f);
}
