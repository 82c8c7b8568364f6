// AVX-512 kernels, two tables: 16-float vectors (kAvx512Kernels), and
// 8-float vectors with AVX-512VL's mask registers and 32 registers
// (kAvx512YmmKernels: what AMD Zen 4, which runs a 512-bit operation as two
// 256-bit halves, runs backward with; cpu_dispatch.cpp). Compiled with
// -mavx512f -mavx512vl (and AVX2/FMA); only called after CPUID and XGETBV
// say the CPU and OS support them.
#include <immintrin.h>

#include "kernels_simd_body.h"
#include "kernels_ymm_ops.h"

namespace arelu {
namespace {

struct Avx512 {
  using F = __m512;
  using D = __m512d;
  static constexpr int W = 16;
  static constexpr int kRegisters = 32;
  static constexpr size_t kPrefetchAhead = simd::kPrefetchAhead;
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F zero() { return _mm512_setzero_ps(); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  // Sign bit set = negative as a signed integer (AVX-512F has no movmsk).
  static F sign_select(F x, F a, F b) {
    return _mm512_mask_blend_ps(
        _mm512_cmplt_epi32_mask(_mm512_castps_si512(x), _mm512_setzero_si512()), b, a);
  }
  static F zeros_of(F x) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, zero(), _CMP_EQ_OQ), x); }
  // max returns its second operand when either is NaN: relu(NaN) = NaN.
  static F relu(F x) { return _mm512_max_ps(zero(), x); }
  static F neg(F x) {
    return _mm512_castsi512_ps(_mm512_xor_si512(
        _mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN)));
  }
  static F dx(F x, F g, F a, F b) {
    const __mmask16 pos = _mm512_cmp_ps_mask(x, zero(), _CMP_GT_OQ);
    const __mmask16 negm = _mm512_cmp_ps_mask(x, zero(), _CMP_LT_OQ);
    F r = _mm512_sub_ps(x, x);  // +0 for +-0, NaN for NaN
    r = _mm512_mask_mul_ps(r, negm, g, a);
    return _mm512_mask_mul_ps(r, pos, g, b);
  }
  // The first m (0 < m < W) floats at p, +0 after them; and their store.
  // Masked lanes are neither read nor written (no fault past an array).
  static __mmask16 lanes_below(int m) { return static_cast<__mmask16>((1u << m) - 1); }
  static F load_first(const float* p, int m) { return _mm512_maskz_loadu_ps(lanes_below(m), p); }
  static void store_first(float* p, F v, int m) { _mm512_mask_storeu_ps(p, lanes_below(m), v); }
  // Lanes [from, W) from p[from ..], +0 below (0 < from < W); and their store.
  static F load_from(const float* p, int from) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>(~lanes_below(from)), p);
  }
  static void store_from(float* p, int from, F v) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>(~lanes_below(from)), v);
  }
  // The lower and upper 8 floats of v, widened.
  static D widen_lo(F v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
  static D widen_hi(F v) {
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  }
  // A 256-bit load folded into the convert: no extract of the high half.
  static D widen(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
  // max/min return their second operand when either is NaN or both are
  // zeros: relu(NaN) = NaN, relu(-0) = -0, min(0, -0) = -0.
  static D relud(D v) { return _mm512_max_pd(_mm512_setzero_pd(), v); }
  static D negpartd(D v) { return _mm512_min_pd(_mm512_setzero_pd(), v); }
  static D zerod() { return _mm512_setzero_pd(); }
  static D loadd(const double* p) { return _mm512_loadu_pd(p); }
  static void stored(double* p, D v) { _mm512_storeu_pd(p, v); }
  static D addd(D a, D b) { return _mm512_add_pd(a, b); }
  static D fmadd(D a, D b, D c) { return _mm512_fmadd_pd(a, b, c); }
  static D fnmadd(D a, D b, D c) { return _mm512_fnmadd_pd(a, b, c); }
};

// The same operations on 8-float vectors: AVX2's (kernels_ymm_ops.h), but
// dx with mask registers as above (on the AMD Zen 4 VM 0.97-0.99x the time
// of AVX2's blends, bench/RESULTS.md "Eleventh session") and 32 registers.
struct Avx512Ymm : YmmOps {
  static constexpr int kRegisters = 32;
  static constexpr size_t kPrefetchAhead = 128;  // 512 bytes (kernels_simd_body.h)
  static F dx(F x, F g, F a, F b) {
    const __mmask8 pos = _mm256_cmp_ps_mask(x, zero(), _CMP_GT_OQ);
    const __mmask8 negm = _mm256_cmp_ps_mask(x, zero(), _CMP_LT_OQ);
    F r = _mm256_sub_ps(x, x);  // +0 for +-0, NaN for NaN
    r = _mm256_mask_mul_ps(r, negm, g, a);
    return _mm256_mask_mul_ps(r, pos, g, b);
  }
  // The first m lanes with a mask register, not AVX2's vmaskmovps: tiles of
  // 7x7 maps took 0.85-0.87x the time, rows of 100 elements 0.92x (Zen 4;
  // which of the load and the store cost it was not pinned down: the store
  // alone as a scalar loop changed nothing in the AVX2 table).
  static __mmask8 lanes_below(int m) { return static_cast<__mmask8>((1u << m) - 1); }
  static F load_first(const float* p, int m) { return _mm256_maskz_loadu_ps(lanes_below(m), p); }
  static void store_first(float* p, F v, int m) { _mm256_mask_storeu_ps(p, lanes_below(m), v); }
  static F load_from(const float* p, int from) {
    return _mm256_maskz_loadu_ps(static_cast<__mmask8>(~lanes_below(from)), p);
  }
  static void store_from(float* p, int from, F v) {
    _mm256_mask_storeu_ps(p, static_cast<__mmask8>(~lanes_below(from)), v);
  }
};

}  // namespace

const CpuKernels kAvx512Kernels = simd::make_kernels<Avx512>("avx512");
const CpuKernels kAvx512YmmKernels = simd::make_kernels<Avx512Ymm>("avx512 (8-float vectors)");

}  // namespace arelu
