// The AReLU math of SPEC §1, in one place. Every CPU kernel (scalar, AVX2,
// AVX-512) and every CUDA kernel derives its per-element results from these
// definitions; the vector kernels re-express them lane-wise and are tested to
// be bit-identical to them.
#pragma once

#include <cmath>
#include <cstdint>

// `static`: each translation unit gets its own copy. The ISA kernels are
// compiled with different -m flags, and a shared inline definition would let
// the linker hand an AVX-512 build of a helper to the scalar path.
#if defined(__CUDACC__)
#define ARELU_HD static __host__ __device__ __forceinline__
#else
#define ARELU_HD static inline
#endif

namespace arelu {

constexpr float kAlphaMin = 0.01f;
constexpr float kAlphaMax = 0.99f;
constexpr double kDefaultAlpha = 0.90;
constexpr double kDefaultBeta = 2.0;

// Per-layer (or per-channel) coefficients derived from the float32 parameters.
struct Coeffs {
  float a;          // clamp(alpha, 0.01f, 0.99f); NaN stays NaN
  float b;          // 1 + sigmoid(beta), rounded once to float32
  double dsig;      // s * (1 - s), with s = sigmoid(beta) in float64
  bool alpha_live;  // alpha inside the clamp window: dAlpha flows
};

// exp(x) in float64 with the package's own code, so that b and s(1 - s) are
// the same bits on every platform, CPU and GPU (libms differ: mingw's exp is
// 1 ulp apart from glibc's on ~0.1% of float betas). Only +, -, *, / and
// conversions, each correctly rounded by IEEE 754, evaluated in source order:
// CPU builds use -ffp-contract=off, the CUDA build --fmad=false.
// The method of fdlibm's e_exp.c (error < 1 ulp): x = k*ln2 + r with
// |r| <= ln2/2 (ln2 split in two so that k*ln2_hi and x - k*ln2_hi are exact),
// exp(r) from a degree-5 minimax rational form, then the exact scaling by 2^k
// in two steps (one rounding, also for subnormal results).
// 2^n for |n| <= 1022 by square-and-multiply of exact powers of two.
ARELU_HD double pow2_own(int n) {
  double p = 1.0, base = n < 0 ? 0.5 : 2.0;
  for (unsigned m = static_cast<unsigned>(n < 0 ? -n : n); m != 0; m >>= 1) {
    if (m & 1u) p *= base;
    base *= base;
  }
  return p;
}

ARELU_HD double exp_own(double x) {
  const double ln2_hi = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000: 32 trailing zero bits
  const double ln2_lo = 1.90821492927058770002e-10;
  const double inv_ln2 = 1.44269504088896338700e+00;
  const double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
               P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
               P5 = 4.13813679705723846039e-08;
  if (x != x) return x;                          // NaN
  if (x > 7.09782712893383973096e+02) return static_cast<double>(INFINITY);  // overflows
  if (x < -7.45133219101941108420e+02) return 0.0;                           // underflows to 0
  const double ax = x < 0.0 ? -x : x;
  if (ax < 3.7252902984e-09) return 1.0 + x;    // |x| < 2^-28: exp(x) rounds to 1 + x
  int k = 0;
  double hi = x, lo = 0.0;
  if (ax > 0.5 * 6.93147180559945286227e-01) {
    k = static_cast<int>(inv_ln2 * x + (x < 0.0 ? -0.5 : 0.5));
    hi = x - k * ln2_hi;
    lo = k * ln2_lo;
  }
  const double r = hi - lo;
  const double t = r * r;
  const double c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k == 0) return 1.0 - ((r * c) / (c - 2.0) - r);
  const double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);  // exp(r), in [0.70, 1.42]
  // y * 2^k with k in [-1075, 1024]: two factors 2^k1 * 2^k2 (powers of two,
  // exact), so y * 2^k1 stays normal and the second product rounds once.
  const int k1 = k / 2;
  return (y * pow2_own(k1)) * pow2_own(k - k1);
}

// sigmoid(x) with exp_own, within 2.5 ulps in float64 (about 1 typically):
// 1 / (1 + exp(-x)) for x >= 0, e / (1 + e) with e = exp(x) for x < 0 (no
// overflow of exp(-x), so tiny results keep their precision).
ARELU_HD double sigmoid_own(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp_own(-x));
  const double e = exp_own(x);
  return e / (1.0 + e);
}

// Parameters arrive as float32 (they are float32 in every framework).
ARELU_HD Coeffs make_coeffs(float alpha, float beta) {
  Coeffs c;
  // Comparisons with NaN are false, so a NaN alpha falls through unchanged.
  c.a = alpha < kAlphaMin ? kAlphaMin : (alpha > kAlphaMax ? kAlphaMax : alpha);
  c.alpha_live = (kAlphaMin <= alpha) && (alpha <= kAlphaMax);
  // No libm: the same bits on every platform (SPEC §1).
  const double s = sigmoid_own(static_cast<double>(beta));
  c.b = static_cast<float>(1.0 + s);
  c.dsig = s * (1.0 - s);
  return c;
}

// relu with relu(NaN) = NaN. Written as `0 > x ? 0 : x` because that is
// exactly what x86 max(0, x) does (the second operand wins on NaN), so the
// SIMD kernels can use a single max instruction and agree bit for bit.
ARELU_HD float relu(float x) { return 0.0f > x ? 0.0f : x; }

// y = relu(x) * b - relu(-x) * a
ARELU_HD float forward_elem(float x, float a, float b) {
  return relu(x) * b - relu(-x) * a;
}

// dx: g*b for x > 0, g*a for x < 0, 0 for x = +-0, NaN for NaN x.
// (x - x) is +0 for +-0 and NaN for NaN; infinities never reach it.
ARELU_HD float backward_dx(float x, float g, float a, float b) {
  return x > 0.0f ? g * b : (x < 0.0f ? g * a : x - x);
}

// The two parameter-gradient terms, formed in float64 where the product of
// two float32 values is exact: tA = g * relu(-x), tB = g * relu(x).
ARELU_HD double term_alpha(float x, float g) {
  return static_cast<double>(g) * static_cast<double>(relu(-x));
}
ARELU_HD double term_beta(float x, float g) {
  return static_cast<double>(g) * static_cast<double>(relu(x));
}

// The GPU's form of the two terms, with one float64 product per element
// (consumer GPUs run float64 at 1/32-1/64 rate): p = g * x (exact) goes to
// the sum it feeds; the other sum gets g * 0, which is 0, or NaN for an
// infinite or NaN g, made without float64 work. The alpha sum is kept
// negated (-tA = p for x < 0), so the caller passes -neg_sum_alpha to
// finish_dalpha. Equal to adding term_alpha/term_beta up to the signs of
// zero terms (which do not change a sum that starts at +0) and NaN payloads
// (canonicalized by finish_*): the same sums, bit for bit.
ARELU_HD void accumulate_terms_routed(float x, float g, double& neg_sum_alpha, double& sum_beta) {
  const double p = static_cast<double>(g) * static_cast<double>(x);
  const double q = (g - g) == 0.0f ? 0.0 : static_cast<double>(NAN);
  neg_sum_alpha += x > 0.0f ? q : p;  // x < 0: -g*relu(-x) = g*x; x = +-0 or NaN: g*x too
  sum_beta += x < 0.0f ? q : p;       // x > 0: g*relu(x) = g*x; x = +-0 or NaN: g*x too
}

// NaN payloads and signs depend on which operand an instruction propagates
// (FMA forms, vector vs scalar), so a NaN sum is returned as the one
// canonical quiet NaN: results stay bit-identical across ISAs.
ARELU_HD double canonical_nan(double v) { return v != v ? static_cast<double>(NAN) : v; }

// Final parameter gradients from the float64 sums of the terms.
ARELU_HD double finish_dalpha(const Coeffs& c, double sum_alpha) {
  // 0 - sum rather than -sum: an empty or all-positive input gives +0, not -0.
  return c.alpha_live ? canonical_nan(0.0 - sum_alpha) : 0.0;
}
ARELU_HD double finish_dbeta(const Coeffs& c, double sum_beta) {
  return canonical_nan(sum_beta * c.dsig);
}

// Canonical in-piece summation on the CPU: element k of a piece goes to lane
// k % kLanes, lanes accumulate in element order, then fold pairwise (lane l
// += lane l+w for w = 8, 4, 2, 1). Scalar, AVX2 and AVX-512 all follow this
// order, which is what makes the CPU sums bit-identical across instruction
// sets. (The GPU has its own fixed order; SPEC only asks it to be
// deterministic and to agree with the CPU within 1e-12.)
constexpr int kLanes = 16;

ARELU_HD double fold_lanes(double* lanes) {
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  return lanes[0];
}

}  // namespace arelu
