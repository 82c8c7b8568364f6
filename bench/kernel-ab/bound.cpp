// What bounds backward in cache (issue 11): the float32 -> float64 widening
// converts. AVX2 loops over the same 16-lane layout as the real kernel
// (kernels_simd_body.h), each on x and g already in cache, timed in
// interleaved rounds against memcpy of the same n floats:
//   widen only      x and g widened and added: the converts alone, no math
//   sums (kernel)   the kernel's sums: widen, min/max, fused multiply-adds
//   sums, routed    one float64 product p = g*x sent by x's sign bit to one
//                   sum (integer compare mask, and/andnot, add/sub): fewer
//                   multiplies, but the adds move to the converts' ports
//   sums, blendv    the same routing with blendv
//   sums + dx       the kernel's full loop body (sums, dx formed and stored)
// Prints per-element times and the ratio to memcpy. Build and run with
// bench/kernel-ab/bound.sh (needs AVX2+FMA).
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {
using D = __m256d;
using F = __m256;
inline D widen(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }

enum Variant { kWiden, kSums, kRouted, kBlendv, kFull, kVariants };
const char* kName[kVariants] = {"widen only", "sums (kernel)", "sums, routed", "sums, blendv", "sums + dx (kernel)"};

template <int V>
__attribute__((noinline)) void run(const float* x, const float* g, float* dx, size_t n, double* out) {
  D a[4], b[4];
  for (int k = 0; k < 4; ++k) a[k] = b[k] = _mm256_setzero_pd();
  const D z = _mm256_setzero_pd();
  const F va = _mm256_set1_ps(0.5f), vb = _mm256_set1_ps(1.8f), zf = _mm256_setzero_ps();
  for (size_t i = 0; i + 16 <= n; i += 16) {
    for (int k = 0; k < 4; ++k) {
      const float* xp = x + i + 4 * k;
      const float* gp = g + i + 4 * k;
      const D xd = widen(xp), gd = widen(gp);
      if (V == kWiden) {
        a[k] = _mm256_add_pd(a[k], xd);
        b[k] = _mm256_add_pd(b[k], gd);
      } else if (V == kSums || V == kFull) {
        a[k] = _mm256_fnmadd_pd(gd, _mm256_min_pd(z, xd), a[k]);
        b[k] = _mm256_fmadd_pd(gd, _mm256_max_pd(z, xd), b[k]);
      } else if (V == kRouted) {
        const D p = _mm256_mul_pd(xd, gd);
        const D m = _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_setzero_si256(), _mm256_castpd_si256(xd)));
        b[k] = _mm256_add_pd(b[k], _mm256_andnot_pd(m, p));
        a[k] = _mm256_sub_pd(a[k], _mm256_and_pd(m, p));
      } else {
        const D p = _mm256_mul_pd(xd, gd);
        b[k] = _mm256_add_pd(b[k], _mm256_blendv_pd(p, z, xd));
        a[k] = _mm256_sub_pd(a[k], _mm256_blendv_pd(z, p, xd));
      }
    }
    if (V == kFull)
      for (int h = 0; h < 2; ++h) {
        const F xv = _mm256_loadu_ps(x + i + 8 * h), gv = _mm256_loadu_ps(g + i + 8 * h);
        const F t = _mm256_mul_ps(gv, _mm256_blendv_ps(vb, va, xv));
        const F zn = _mm256_cmp_ps(xv, zf, _CMP_EQ_UQ);
        _mm256_storeu_ps(dx + i + 8 * h, _mm256_blendv_ps(t, _mm256_sub_ps(xv, xv), zn));
      }
  }
  D t = a[0];
  for (int k = 1; k < 4; ++k) t = _mm256_add_pd(t, a[k]);
  for (int k = 0; k < 4; ++k) t = _mm256_add_pd(t, b[k]);
  _mm256_storeu_pd(out, t);
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
  void (*fn[kVariants])(const float*, const float*, float*, size_t, double*) = {
      run<kWiden>, run<kSums>, run<kRouted>, run<kBlendv>, run<kFull>};
  const int rounds = 41;
  for (int ai = 1; ai < argc; ++ai) {
    const size_t n = std::strtoull(argv[ai], nullptr, 10) & ~size_t(15);
    const int reps = static_cast<int>(2000000 / n + 3);
    std::vector<float> x(n), g(n), dx(n), y(n);
    std::mt19937 rng(1);
    std::normal_distribution<float> d;
    for (size_t i = 0; i < n; ++i) x[i] = d(rng), g[i] = d(rng);
    double sink[4];
    std::vector<double> t[kVariants + 1];
    for (int r = 0; r < rounds; ++r)
      for (int v = 0; v <= kVariants; ++v) {
        const double t0 = now();
        for (int k = 0; k < reps; ++k) {
          if (v == kVariants) std::memcpy(y.data(), x.data(), n * 4);
          else fn[v](x.data(), g.data(), dx.data(), n, sink);
        }
        t[v].push_back((now() - t0) / reps);
      }
    for (auto& v : t) std::sort(v.begin(), v.end());
    const double copy = t[kVariants][0];
    std::printf("n=%zu: memcpy min %.2f us (%.3f ns/element)\n", n, copy * 1e6, copy * 1e9 / n);
    for (int v = 0; v < kVariants; ++v)
      std::printf("  %-20s min %8.2f us  %.3f ns/element  = %.2f x memcpy (backward target at 1.5x: %.2f x memcpy)\n", kName[v],
                  t[v][0] * 1e6, t[v][0] * 1e9 / n, t[v][0] / copy, 1.5 * 1.5);
  }
  return 0;
}
