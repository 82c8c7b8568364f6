// The 8-float (256-bit) vector operations shared by the AVX2 traits
// (kernels_avx2.cpp) and the AVX-512 8-float traits (kernels_avx512.cpp),
// which add dx, kRegisters and kPrefetchAhead (see kernels_simd_body.h).
// In an anonymous namespace on purpose: each translation unit compiles its
// own copy with its own flags (-mavx2 / -mavx512vl), so no AVX-512 encoding
// can become the copy an AVX2-only CPU runs.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace arelu {
namespace {

struct YmmOps {
  using F = __m256;
  using D = __m256d;
  static constexpr int W = 8;
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F zero() { return _mm256_setzero_ps(); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sign_select(F x, F a, F b) { return _mm256_blendv_ps(b, a, x); }
  static F zeros_of(F x) { return _mm256_and_ps(x, _mm256_cmp_ps(x, zero(), _CMP_EQ_OQ)); }
  // max returns its second operand when either is NaN: relu(NaN) = NaN.
  static F relu(F x) { return _mm256_max_ps(zero(), x); }
  static F neg(F x) { return _mm256_xor_ps(x, _mm256_set1_ps(-0.0f)); }
  // The first m (0 < m < W) floats at p, +0 after them; and their store.
  // Masked lanes are neither read nor written (no fault past an array).
  static __m256i first_mask(int m) {
    alignas(64) static const int32_t kOnes[16] = {-1, -1, -1, -1, -1, -1, -1, -1};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kOnes + 8 - m));
  }
  static F load_first(const float* p, int m) { return _mm256_maskload_ps(p, first_mask(m)); }
  static void store_first(float* p, F v, int m) { _mm256_maskstore_ps(p, first_mask(m), v); }
  // Lanes [from, W) from p[from ..], +0 below (0 < from < W); and their store.
  static __m256i from_mask(int from) {
    alignas(64) static const int32_t kZerosOnes[16] = {0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kZerosOnes + 8 - from));
  }
  static F load_from(const float* p, int from) { return _mm256_maskload_ps(p, from_mask(from)); }
  static void store_from(float* p, int from, F v) { _mm256_maskstore_ps(p, from_mask(from), v); }
  // The lower and upper 4 floats of v, widened.
  static D widen_lo(F v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
  static D widen_hi(F v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }
  static D widen(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
  // max/min return their second operand when either is NaN or both are
  // zeros: relu(NaN) = NaN, relu(-0) = -0, min(0, -0) = -0.
  static D relud(D v) { return _mm256_max_pd(_mm256_setzero_pd(), v); }
  static D negpartd(D v) { return _mm256_min_pd(_mm256_setzero_pd(), v); }
  static D zerod() { return _mm256_setzero_pd(); }
  static D loadd(const double* p) { return _mm256_loadu_pd(p); }
  static void stored(double* p, D v) { _mm256_storeu_pd(p, v); }
  static D addd(D a, D b) { return _mm256_add_pd(a, b); }
  static D fmadd(D a, D b, D c) { return _mm256_fmadd_pd(a, b, c); }
  static D fnmadd(D a, D b, D c) { return _mm256_fnmadd_pd(a, b, c); }
};

}  // namespace
}  // namespace arelu
