// The package's own exp/sigmoid (arelu_math.h: exp_own, sigmoid_own, used by
// make_coeffs on the CPU and the GPU) against a long-double reference.
//
//   arelu_math_test            dense sweep (every 1543rd float bit pattern of
//                              [-800, 800] and every 401st of [-30, 30]) plus
//                              special values; fails on an error above the
//                              bounds below
//   arelu_math_test --all      also every float beta in [-30, 30]: how many
//                              b = float(1 + s) differ from the libm-based
//                              formula this replaced (a report, not a check)
//
// The long-double reference (x87 80-bit on x86-64; 64-bit mantissa) is
// about 2^-11 ulp of double away from the exact value, so the measured error
// is within +-0.001 ulp of the true one.
#include <cfloat>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "arelu_math.h"

namespace {

int failures = 0;

void check(bool ok, const char* what, double in, double got) {
  if (!ok) {
    if (failures < 20) std::printf("FAIL %s: in=%a got=%a\n", what, in, got);
    ++failures;
  }
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

uint64_t dbits(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

// Error of `got` against `ref` in units of the last place of double at ref.
long double ulp_err(double got, long double ref) {
  if (ref >= static_cast<long double>(DBL_MAX) + std::ldexp(1.0L, 970)) return got == INFINITY ? 0.0L : INFINITY;
  if (ref == 0.0L) return got == 0.0 ? 0.0L : INFINITY;
  int e;
  std::frexp(static_cast<double>(ref), &e);
  long double ulp = std::ldexp(1.0L, (e - 53 < -1074 ? -1074 : e - 53));
  return std::fabs(static_cast<long double>(got) - ref) / ulp;
}

struct Stats {
  long double max_exp = 0, max_sig = 0;
  uint64_t n = 0;
  void take(double x) {
    const double e = arelu::exp_own(x);
    const long double er = std::exp(static_cast<long double>(x));
    const long double ue = ulp_err(e, er);
    if (ue > max_exp) max_exp = ue;
    check(ue < 1.0L, "exp_own within 1 ulp", x, e);
    const double s = arelu::sigmoid_own(x);
    const long double sr = 1.0L / (1.0L + std::exp(-static_cast<long double>(x)));
    const long double us = ulp_err(s, sr);
    if (us > max_sig) max_sig = us;
    check(us < 2.5L, "sigmoid_own within 2.5 ulp", x, s);
    ++n;
  }
};

double old_sigmoid(float beta) { return 1.0 / (1.0 + std::exp(-static_cast<double>(beta))); }

}  // namespace

int main(int argc, char** argv) {
  const bool all = argc > 1 && std::strcmp(argv[1], "--all") == 0;
  Stats st;
  // Every 1543rd bit pattern of the floats in [-800, 800] (beyond +-745 exp
  // under/overflows), both signs: includes subnormals and the tiny range where
  // exp(x) rounds to 1 + x.
  const uint32_t lim800 = 0x44480000u;  // 800.0f
  for (uint32_t u = 0; u <= lim800; u += 1543) {
    st.take(from_bits(u));
    st.take(from_bits(u | 0x80000000u));
  }
  // Every 401st float of [-30, 30] (the betas that matter).
  const uint32_t lim30 = 0x41f00000u;  // 30.0f
  for (uint32_t u = 0; u <= lim30; u += 401) {
    st.take(from_bits(u));
    st.take(from_bits(u | 0x80000000u));
  }
  // Doubles between the floats near the range-reduction boundaries.
  for (int k = -1080; k <= 1030; ++k)
    for (int d = -3; d <= 3; ++d) {
      const double x = k * 0.6931471805599453 + d * 1e-12 + 0.5 * 0.6931471805599453;
      if (x > -745.0 && x < 709.7) st.take(x);
    }
  std::printf("exp_own: %" PRIu64 " arguments, max error %.3Lf ulp; sigmoid_own: max error %.3Lf ulp\n",
              st.n, st.max_exp, st.max_sig);

  // Special values.
  check(arelu::exp_own(0.0) == 1.0, "exp(0) = 1", 0.0, arelu::exp_own(0.0));
  check(arelu::exp_own(-0.0) == 1.0, "exp(-0) = 1", -0.0, arelu::exp_own(-0.0));
  check(arelu::exp_own(INFINITY) == INFINITY, "exp(inf) = inf", INFINITY, arelu::exp_own(INFINITY));
  check(dbits(arelu::exp_own(-INFINITY)) == 0, "exp(-inf) = +0", -INFINITY, arelu::exp_own(-INFINITY));
  check(std::isnan(arelu::exp_own(NAN)), "exp(NaN) = NaN", NAN, arelu::exp_own(NAN));
  check(arelu::exp_own(710.0) == INFINITY, "exp(710) overflows", 710.0, arelu::exp_own(710.0));
  check(arelu::exp_own(709.78) < INFINITY, "exp(709.78) is finite", 709.78, arelu::exp_own(709.78));
  check(dbits(arelu::exp_own(-746.0)) == 0, "exp(-746) underflows to +0", -746.0, arelu::exp_own(-746.0));
  check(arelu::exp_own(-745.0) == 4.9406564584124654e-324, "exp(-745) = the least subnormal", -745.0,
        arelu::exp_own(-745.0));
  check(arelu::exp_own(FLT_MAX) == INFINITY, "exp(FLT_MAX) = inf", FLT_MAX, arelu::exp_own(FLT_MAX));
  check(dbits(arelu::exp_own(-FLT_MAX)) == 0, "exp(-FLT_MAX) = +0", -FLT_MAX, arelu::exp_own(-FLT_MAX));
  // Coefficients of the special betas.
  const arelu::Coeffs pinf = arelu::make_coeffs(0.5f, INFINITY);
  check(pinf.b == 2.0f && pinf.dsig == 0.0 && !std::signbit(pinf.dsig), "beta=+inf: b=2, dsig=+0", INFINITY, pinf.dsig);
  const arelu::Coeffs ninf = arelu::make_coeffs(0.5f, -INFINITY);
  check(ninf.b == 1.0f && ninf.dsig == 0.0 && !std::signbit(ninf.dsig), "beta=-inf: b=1, dsig=+0", -INFINITY, ninf.dsig);
  const arelu::Coeffs cnan = arelu::make_coeffs(0.5f, NAN);
  check(std::isnan(cnan.b) && std::isnan(cnan.dsig), "beta=NaN: b, dsig NaN", NAN, cnan.dsig);
  const arelu::Coeffs c0 = arelu::make_coeffs(0.5f, 0.0f);
  check(c0.b == 1.5f && c0.dsig == 0.25, "beta=0: b=1.5, dsig=0.25", 0.0, c0.dsig);
  const arelu::Coeffs cs = arelu::make_coeffs(0.5f, from_bits(1));
  check(c0.b == 1.5f && cs.dsig == 0.25, "beta=least subnormal: b=1.5, dsig=0.25", from_bits(1), cs.dsig);
  const arelu::Coeffs c2 = arelu::make_coeffs(0.9f, 2.0f);
  check(c2.b == static_cast<float>(1.0 + 1.0 / (1.0 + 0.1353352832366127)), "beta=2: b", 2.0, c2.b);

  if (all) {
    // Every float beta in [-30, 30]: b against the libm formula it replaced.
    uint64_t n = 0, differ = 0, differ_s = 0;
    for (uint32_t u = 0; u <= lim30; ++u)
      for (uint32_t sign = 0; sign <= 1; ++sign) {
        if (u == 0 && sign) continue;
        const float beta = from_bits(u | (sign << 31));
        const double s_old = old_sigmoid(beta);
        const double s_new = arelu::sigmoid_own(beta);
        ++n;
        if (static_cast<float>(1.0 + s_old) != static_cast<float>(1.0 + s_new)) ++differ;
        if (s_old != s_new) ++differ_s;
      }
    std::printf("every float beta in [-30, 30]: %" PRIu64 " betas; b = float(1 + s) differs from the libm formula on %" PRIu64
                "; s (float64) differs on %" PRIu64 "\n", n, differ, differ_s);
  }
  if (failures) {
    std::printf("%d failures\n", failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
