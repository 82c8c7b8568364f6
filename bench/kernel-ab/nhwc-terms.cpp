// Per-channel backward over NHWC rows of 64 channels (issue 11): what the
// other ways of forming the two float64 sums cost, against the kernel's
// way. Each loop takes rows of 64 floats (x, g), forms dx (stored) and
// adds the terms into per-channel float64 accumulators held in registers,
// as kernels_simd_body.h's varying_in_registers does. Timing only: the
// variants that route by masks would also need a check for NaN x and
// non-finite g (a later exact pass), which the masked-FMA and split loops
// include as an fpclass per vector and the others leave out.
//   512: kernel          the library's loop (16-float vectors): widen x and
//                        g, min/max in float64, two FMAs
//   512: masked FMA      no min/max: FMAs masked by x's sign
//   512: mul + masked    one float64 product, masked add and subtract
//   512: split hi/lo     the suggestion: p = f32(g*x) and its exact
//                        error e = fma(g, x, -p); p widened (2 converts per
//                        16 elements instead of 4) and routed in float64, e
//                        summed in float32 (a new sum scheme: not the same
//                        bits; timing only)
//   256: 32 channels     8-float vectors, a layout of 32 channels (its 16
//                        accumulators fit): what 64 channels cannot do
//   256: split hi/lo     the split at 8 floats, 32 channels
//   256: 2 half rows     64 channels as two passes of 32 (rows 256 bytes
//                        apart, 128 bytes read per row per pass)
//   256: half in L1      64 channels in one pass, channels 32-63 added in
//                        memory (loaded, added, stored per row)
// Prints medians of interleaved rounds and the ratio to 1.5x memcpy of the
// same n floats (the backward target's unit). Build and run with
// bench/kernel-ab/nhwc-terms.sh (needs AVX-512F/VL/DQ).
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

enum Variant { kKernel, kMaskedFma, kMulMasked, kSplit, kY32, kYSplit, kYHalves, kYHalfMem, kVariants };
const char* kName[kVariants] = {"512: kernel",       "512: masked FMA",  "512: mul + masked", "512: split hi/lo",
                                "256: 32 channels",  "256: split hi/lo", "256: 2 half rows",  "256: half in L1"};

inline __m512d widen16(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
inline __m256d widen8(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }

// dx as the library forms it (kernels_avx512.cpp): +0 at +-0, NaN at NaN.
inline __m512 dx16(__m512 x, __m512 g, __m512 a, __m512 b) {
  const __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  __m512 r = _mm512_sub_ps(x, x);
  r = _mm512_mask_mul_ps(r, neg, g, a);
  return _mm512_mask_mul_ps(r, pos, g, b);
}
inline __m256 dx8(__m256 x, __m256 g, __m256 a, __m256 b) {
  const __mmask8 pos = _mm256_cmp_ps_mask(x, _mm256_setzero_ps(), _CMP_GT_OQ);
  const __mmask8 neg = _mm256_cmp_ps_mask(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  __m256 r = _mm256_sub_ps(x, x);
  r = _mm256_mask_mul_ps(r, neg, g, a);
  return _mm256_mask_mul_ps(r, pos, g, b);
}

// 64 channels, 16-float vectors: 16 accumulators per sum kind in registers.
template <int V>
__attribute__((noinline)) int rows512(const float* x, const float* g, float* dx, size_t rows, const float* pa,
                                      const float* pb, double* out) {
  __m512d a[8], b[8];
  __m512 ea[4], eb[4];
  __m512 va[4], vb[4];
  for (int k = 0; k < 8; ++k) a[k] = b[k] = _mm512_setzero_pd();
  for (int s = 0; s < 4; ++s) {
    ea[s] = eb[s] = _mm512_setzero_ps();
    va[s] = _mm512_loadu_ps(pa + 16 * s);
    vb[s] = _mm512_loadu_ps(pb + 16 * s);
  }
  const __m512d z = _mm512_setzero_pd();
  const __m512 zf = _mm512_setzero_ps();
  __mmask16 special = 0;
  for (size_t r = 0; r < rows; ++r)
    for (int s = 0; s < 4; ++s) {
      const float* xp = x + r * 64 + 16 * s;
      const float* gp = g + r * 64 + 16 * s;
      const __m512 xv = _mm512_loadu_ps(xp), gv = _mm512_loadu_ps(gp);
      if (V == kKernel) {
        for (int h = 0; h < 2; ++h) {
          const __m512d xd = widen16(xp + 8 * h), gd = widen16(gp + 8 * h);
          a[2 * s + h] = _mm512_fnmadd_pd(gd, _mm512_min_pd(z, xd), a[2 * s + h]);
          b[2 * s + h] = _mm512_fmadd_pd(gd, _mm512_max_pd(z, xd), b[2 * s + h]);
        }
      } else if (V == kMaskedFma || V == kMulMasked) {
        const __mmask16 kp = _mm512_cmp_ps_mask(xv, zf, _CMP_GT_OQ), kn = _mm512_cmp_ps_mask(xv, zf, _CMP_LT_OQ);
        special |= _mm512_fpclass_ps_mask(xv, 0x81) | _mm512_fpclass_ps_mask(gv, 0x99);
        for (int h = 0; h < 2; ++h) {
          const __m512d xd = widen16(xp + 8 * h), gd = widen16(gp + 8 * h);
          const __mmask8 p8 = static_cast<__mmask8>(kp >> (8 * h)), n8 = static_cast<__mmask8>(kn >> (8 * h));
          if (V == kMaskedFma) {
            a[2 * s + h] = _mm512_mask3_fnmadd_pd(gd, xd, a[2 * s + h], n8);
            b[2 * s + h] = _mm512_mask3_fmadd_pd(gd, xd, b[2 * s + h], p8);
          } else {
            const __m512d t = _mm512_mul_pd(xd, gd);
            a[2 * s + h] = _mm512_mask_sub_pd(a[2 * s + h], n8, a[2 * s + h], t);
            b[2 * s + h] = _mm512_mask_add_pd(b[2 * s + h], p8, b[2 * s + h], t);
          }
        }
      } else if (V == kSplit) {
        const __m512 p = _mm512_mul_ps(xv, gv), e = _mm512_fmsub_ps(xv, gv, p);
        const __mmask16 kp = _mm512_cmp_ps_mask(xv, zf, _CMP_GT_OQ), kn = _mm512_cmp_ps_mask(xv, zf, _CMP_LT_OQ);
        special |= _mm512_fpclass_ps_mask(p, 0xB9);  // NaN, infinite or denormal p: the split is not exact
        ea[s] = _mm512_mask_sub_ps(ea[s], kn, ea[s], e);
        eb[s] = _mm512_mask_add_ps(eb[s], kp, eb[s], e);
        const __m512d t0 = _mm512_cvtps_pd(_mm512_castps512_ps256(p));
        const __m512d t1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p), 1)));
        a[2 * s] = _mm512_mask_sub_pd(a[2 * s], static_cast<__mmask8>(kn), a[2 * s], t0);
        b[2 * s] = _mm512_mask_add_pd(b[2 * s], static_cast<__mmask8>(kp), b[2 * s], t0);
        a[2 * s + 1] = _mm512_mask_sub_pd(a[2 * s + 1], static_cast<__mmask8>(kn >> 8), a[2 * s + 1], t1);
        b[2 * s + 1] = _mm512_mask_add_pd(b[2 * s + 1], static_cast<__mmask8>(kp >> 8), b[2 * s + 1], t1);
      }
      _mm512_storeu_ps(dx + r * 64 + 16 * s, dx16(xv, gv, va[s], vb[s]));
    }
  for (int k = 0; k < 8; ++k) _mm512_storeu_pd(out + 8 * k, _mm512_add_pd(a[k], b[k]));
  for (int s = 0; s < 4; ++s) out[s] += _mm512_reduce_add_ps(_mm512_add_ps(ea[s], eb[s]));
  return special;
}

// One 32-channel strip of 8-float vectors over `rows` rows `stride` apart;
// kYSplit: the split hi/lo form instead.
template <bool kSplitForm>
__attribute__((noinline)) int strip256(const float* x, const float* g, float* dx, size_t rows, size_t stride,
                                       const float* pa, const float* pb, double* out) {
  __m256d a[8], b[8];
  __m256 ea[4], eb[4];
  for (int k = 0; k < 8; ++k) a[k] = b[k] = _mm256_setzero_pd();
  for (int s = 0; s < 4; ++s) ea[s] = eb[s] = _mm256_setzero_ps();
  const __m256d z = _mm256_setzero_pd();
  const __m256 zf = _mm256_setzero_ps();
  __mmask8 special = 0;
  for (size_t r = 0; r < rows; ++r)
    for (int s = 0; s < 4; ++s) {
      const float* xp = x + r * stride + 8 * s;
      const float* gp = g + r * stride + 8 * s;
      const __m256 xv = _mm256_loadu_ps(xp), gv = _mm256_loadu_ps(gp);
      if (!kSplitForm) {
        for (int h = 0; h < 2; ++h) {
          const __m256d xd = widen8(xp + 4 * h), gd = widen8(gp + 4 * h);
          a[2 * s + h] = _mm256_fnmadd_pd(gd, _mm256_min_pd(z, xd), a[2 * s + h]);
          b[2 * s + h] = _mm256_fmadd_pd(gd, _mm256_max_pd(z, xd), b[2 * s + h]);
        }
      } else {
        const __m256 p = _mm256_mul_ps(xv, gv), e = _mm256_fmsub_ps(xv, gv, p);
        const __mmask8 kp = _mm256_cmp_ps_mask(xv, zf, _CMP_GT_OQ), kn = _mm256_cmp_ps_mask(xv, zf, _CMP_LT_OQ);
        special |= _mm256_fpclass_ps_mask(p, 0xB9);
        ea[s] = _mm256_mask_sub_ps(ea[s], kn, ea[s], e);
        eb[s] = _mm256_mask_add_ps(eb[s], kp, eb[s], e);
        const __m256d t0 = _mm256_cvtps_pd(_mm256_castps256_ps128(p));
        const __m256d t1 = _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1));
        a[2 * s] = _mm256_mask_sub_pd(a[2 * s], kn & 15, a[2 * s], t0);
        b[2 * s] = _mm256_mask_add_pd(b[2 * s], kp & 15, b[2 * s], t0);
        a[2 * s + 1] = _mm256_mask_sub_pd(a[2 * s + 1], kn >> 4, a[2 * s + 1], t1);
        b[2 * s + 1] = _mm256_mask_add_pd(b[2 * s + 1], kp >> 4, b[2 * s + 1], t1);
      }
      _mm256_storeu_ps(dx + r * stride + 8 * s, dx8(xv, gv, _mm256_loadu_ps(pa + 8 * s), _mm256_loadu_ps(pb + 8 * s)));
    }
  for (int k = 0; k < 8; ++k) _mm256_storeu_pd(out + 4 * k, _mm256_add_pd(a[k], b[k]));
  float t[8];
  for (int s = 0; s < 4; ++s) {
    _mm256_storeu_ps(t, _mm256_add_ps(ea[s], eb[s]));
    out[s] += t[0];
  }
  return special;
}

// 64 channels in one pass of 8-float vectors: channels 0-31 in registers,
// 32-63 loaded, added and stored per row (mem: 64 + 64 doubles).
__attribute__((noinline)) int halfmem256(const float* x, const float* g, float* dx, size_t rows, const float* pa,
                                         const float* pb, double* mem) {
  __m256d a[8], b[8];
  for (int k = 0; k < 8; ++k) a[k] = b[k] = _mm256_setzero_pd();
  for (int k = 0; k < 64; ++k) mem[k] = 0;
  const __m256d z = _mm256_setzero_pd();
  auto terms = [&](const float* xp, const float* gp, __m256d& a0, __m256d& a1, __m256d& b0, __m256d& b1) {
    __m256d xd = widen8(xp), gd = widen8(gp);
    a0 = _mm256_fnmadd_pd(gd, _mm256_min_pd(z, xd), a0);
    b0 = _mm256_fmadd_pd(gd, _mm256_max_pd(z, xd), b0);
    xd = widen8(xp + 4), gd = widen8(gp + 4);
    a1 = _mm256_fnmadd_pd(gd, _mm256_min_pd(z, xd), a1);
    b1 = _mm256_fmadd_pd(gd, _mm256_max_pd(z, xd), b1);
  };
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * 64;
    const float* gr = g + r * 64;
    float* dr = dx + r * 64;
#pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      const __m256 xv = _mm256_loadu_ps(xr + 8 * s), gv = _mm256_loadu_ps(gr + 8 * s);
      if (s < 4) {
        terms(xr + 8 * s, gr + 8 * s, a[2 * s], a[2 * s + 1], b[2 * s], b[2 * s + 1]);
      } else {
        double* m = mem + 16 * (s - 4);
        __m256d a0 = _mm256_loadu_pd(m), a1 = _mm256_loadu_pd(m + 4), b0 = _mm256_loadu_pd(m + 8),
                b1 = _mm256_loadu_pd(m + 12);
        terms(xr + 8 * s, gr + 8 * s, a0, a1, b0, b1);
        _mm256_storeu_pd(m, a0);
        _mm256_storeu_pd(m + 4, a1);
        _mm256_storeu_pd(m + 8, b0);
        _mm256_storeu_pd(m + 12, b1);
      }
      _mm256_storeu_ps(dr + 8 * s, dx8(xv, gv, _mm256_loadu_ps(pa + 8 * s), _mm256_loadu_ps(pb + 8 * s)));
    }
  }
  for (int k = 0; k < 8; ++k) _mm256_storeu_pd(mem + 4 * k, _mm256_add_pd(_mm256_add_pd(a[k], b[k]), _mm256_loadu_pd(mem + 4 * k)));
  return 0;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
  const int rounds = 21;
  for (int ai = 1; ai < argc; ++ai) {
    const size_t n = std::strtoull(argv[ai], nullptr, 10) & ~size_t(63);
    const size_t rows = n / 64;
    const int reps = static_cast<int>(4000000 / n + 3);
    std::vector<float> x(n), g(n), dx(n), y(n), pa(64), pb(64);
    std::mt19937 rng(1);
    std::normal_distribution<float> d;
    for (size_t i = 0; i < n; ++i) x[i] = d(rng), g[i] = d(rng);
    for (int c = 0; c < 64; ++c) pa[c] = 0.01f + 0.015f * c, pb[c] = 1.1f + 0.01f * c;
    alignas(64) double out[128];
    volatile int sink = 0;
    const float *X = x.data(), *G = g.data(), *A = pa.data(), *B = pb.data();
    float* DX = dx.data();
    std::vector<double> t[kVariants + 1];
    for (int r = 0; r < rounds; ++r)
      for (int v = 0; v <= kVariants; ++v) {
        const double t0 = now();
        for (int k = 0; k < reps; ++k) {
          switch (v) {
            case kKernel: sink += rows512<kKernel>(X, G, DX, rows, A, B, out); break;
            case kMaskedFma: sink += rows512<kMaskedFma>(X, G, DX, rows, A, B, out); break;
            case kMulMasked: sink += rows512<kMulMasked>(X, G, DX, rows, A, B, out); break;
            case kSplit: sink += rows512<kSplit>(X, G, DX, rows, A, B, out); break;
            case kY32: sink += strip256<false>(X, G, DX, 2 * rows, 32, A, B, out); break;
            case kYSplit: sink += strip256<true>(X, G, DX, 2 * rows, 32, A, B, out); break;
            case kYHalves:
              sink += strip256<false>(X, G, DX, rows, 64, A, B, out);
              sink += strip256<false>(X + 32, G + 32, DX + 32, rows, 64, A + 32, B + 32, out + 64);
              break;
            case kYHalfMem: sink += halfmem256(X, G, DX, rows, A, B, out); break;
            default: std::memcpy(y.data(), x.data(), n * 4);
          }
        }
        t[v].push_back((now() - t0) / reps);
      }
    for (auto& v : t) std::sort(v.begin(), v.end());
    const double copy = t[kVariants][rounds / 2];
    std::printf("n=%zu (%zu rows of 64 channels): memcpy %.2f us (median)\n", n, rows, copy * 1e6);
    for (int v = 0; v < kVariants; ++v)
      std::printf("  %-18s %8.2f us  / (1.5 x memcpy) %.2f  / kernel %.2f\n", kName[v], t[v][rounds / 2] * 1e6,
                  t[v][rounds / 2] / (1.5 * copy), t[v][rounds / 2] / t[kKernel][rounds / 2]);
  }
  return 0;
}
