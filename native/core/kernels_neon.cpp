// NEON (AArch64 Advanced SIMD) kernels: the generic SIMD body with 4-float
// and 2-double vectors. Built only for aarch64/arm64 (CMakeLists.txt), where
// Advanced SIMD with float64 lanes is part of the base architecture.
//
// Bit-identity with the scalar reference (arelu_math.h) and with x86:
// - relu is `0 > x ? 0 : x` written as a compare and a bit select, not
//   vmaxq_f32: FMAX returns +0 for max(0, -0) (x86 and the reference give
//   -0) and a quieted or default NaN, where the reference returns x itself.
// - The float64 relu/min for the sums are compare + select for the same
//   reason (the sums would not change, but the terms stay exactly the
//   reference's).
// - vfmaq_f64 / vfmsq_f64 round once, like _mm256_fmadd_pd / fnmadd_pd; the
//   build has -ffp-contract=off, so no other multiply-add is fused.
// - Subnormals are kept (Linux and Windows run AArch64 user code with
//   FPCR.FZ = 0, as x86 runs with MXCSR.FTZ/DAZ = 0).
#include <arm_neon.h>

#include "kernels_simd_body.h"

namespace arelu {
namespace {

struct Neon {
  using F = float32x4_t;
  using D = float64x2_t;
  static constexpr int W = 4;
  static constexpr size_t kPrefetchAhead = simd::kPrefetchAhead;
  static constexpr int kRegisters = 32;
  static F load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, F v) { vst1q_f32(p, v); }
  static F set1(float v) { return vdupq_n_f32(v); }
  static F zero() { return vdupq_n_f32(0.0f); }
  static F mul(F a, F b) { return vmulq_f32(a, b); }
  static F sub(F a, F b) { return vsubq_f32(a, b); }
  static F add(F a, F b) { return vaddq_f32(a, b); }
  static F sign_select(F x, F a, F b) {
    return vbslq_f32(vcltzq_s32(vreinterpretq_s32_f32(x)), a, b);
  }
  // vceqzq_f32 is an ordered compare: false for NaN.
  static F zeros_of(F x) {
    return vreinterpretq_f32_u32(vandq_u32(vceqzq_f32(x), vreinterpretq_u32_f32(x)));
  }
  // 0 > x ? 0 : x: x itself (NaN payload, -0) unless x < 0.
  static F relu(F x) { return vbslq_f32(vcltzq_f32(x), zero(), x); }
  // Flips the sign bit only (NaN included), like the scalar -x.
  static F neg(F x) { return vnegq_f32(x); }
  // g * (x < 0 ? a : b) where |x| > 0 (x not +-0, not NaN); elsewhere
  // x - x (+0 for +-0, NaN for NaN), as backward_dx.
  static F dx(F x, F g, F a, F b) {
    const F t = vmulq_f32(g, vbslq_f32(vcltzq_f32(x), a, b));
    return vbslq_f32(vcagtq_f32(x, zero()), t, vsubq_f32(x, x));
  }
  // The first m (0 < m < W) floats at p, +0 after them; and their store.
  static F load_first(const float* p, int m) {
    F v = zero();
    v = vld1q_lane_f32(p, v, 0);
    if (m > 1) v = vld1q_lane_f32(p + 1, v, 1);
    if (m > 2) v = vld1q_lane_f32(p + 2, v, 2);
    return v;
  }
  static void store_first(float* p, F v, int m) {
    vst1q_lane_f32(p, v, 0);
    if (m > 1) vst1q_lane_f32(p + 1, v, 1);
    if (m > 2) vst1q_lane_f32(p + 2, v, 2);
  }
  // Lanes [from, W) from p[from ..], +0 below (0 < from < W); and their store.
  static F load_from(const float* p, int from) {
    F v = zero();
    if (from <= 1) v = vld1q_lane_f32(p + 1, v, 1);
    if (from <= 2) v = vld1q_lane_f32(p + 2, v, 2);
    return vld1q_lane_f32(p + 3, v, 3);
  }
  static void store_from(float* p, int from, F v) {
    if (from <= 1) vst1q_lane_f32(p + 1, v, 1);
    if (from <= 2) vst1q_lane_f32(p + 2, v, 2);
    vst1q_lane_f32(p + 3, v, 3);
  }
  // The lower and upper 2 floats of v, widened.
  static D widen_lo(F v) { return vcvt_f64_f32(vget_low_f32(v)); }
  static D widen_hi(F v) { return vcvt_high_f64_f32(v); }
  static D widen(const float* p) { return vcvt_f64_f32(vld1_f32(p)); }
  static D zerod() { return vdupq_n_f64(0.0); }
  // max(0, v) and min(0, v) with the x86 rule (the second operand when
  // either is NaN or both are zeros): v < 0 ? 0 : v and v > 0 ? 0 : v.
  static D relud(D v) { return vbslq_f64(vcltzq_f64(v), zerod(), v); }
  static D negpartd(D v) { return vbslq_f64(vcgtzq_f64(v), zerod(), v); }
  static D loadd(const double* p) { return vld1q_f64(p); }
  static void stored(double* p, D v) { vst1q_f64(p, v); }
  static D addd(D a, D b) { return vaddq_f64(a, b); }
  static D fmadd(D a, D b, D c) { return vfmaq_f64(c, a, b); }   // c + a*b
  static D fnmadd(D a, D b, D c) { return vfmsq_f64(c, a, b); }  // c - a*b
};

}  // namespace

const CpuKernels kNeonKernels = simd::make_kernels<Neon>("neon");

}  // namespace arelu
