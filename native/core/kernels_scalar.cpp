// Portable scalar kernels (the only path on non-x86 builds). They compute
// exactly the functions of arelu_math.h, but with branch-free selects: the
// sign of x is random in real data, and a branch per element mispredicts
// half the time (10x slower). Tests hold them bit-identical to the
// reference functions.
#include <cstdint>
#include <cstring>

#include "arelu_math.h"
#include "cpu_kernels.h"

namespace arelu {
namespace {

inline float select(bool c, float t, float f) {
  uint32_t tb, fb;
  std::memcpy(&tb, &t, 4);
  std::memcpy(&fb, &f, 4);
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  const uint32_t r = (tb & m) | (fb & ~m);
  float out;
  std::memcpy(&out, &r, 4);
  return out;
}

// relu(x) = 0 > x ? 0 : x, as in arelu_math.h (NaN stays NaN).
inline float relu_bf(float x) { return select(0.0f > x, 0.0f, x); }

inline float forward_bf(float x, float a, float b) { return relu_bf(x) * b - relu_bf(-x) * a; }

inline float dx_bf(float x, float g, float a, float b) {
  return select(x > 0.0f, g * b, select(x < 0.0f, g * a, x - x));
}

void forward_uniform(const float* x, float* y, size_t n, float a, float b) {
  for (size_t i = 0; i < n; ++i) y[i] = forward_bf(x[i], a, b);
}

void forward_varying(const float* x, float* y, size_t n, size_t rows, size_t stride, const float* pa,
                     const float* pb, bool /*finite*/) {
  for (size_t r = 0; r < rows; ++r, x += stride, y += stride)
    for (size_t i = 0; i < n; ++i) y[i] = forward_bf(x[i], pa[i], pb[i]);
}

// One element of the backward pass: dx, and the two float64 terms added to
// the given accumulators (exact products, as in term_alpha/term_beta).
inline void backward_elem(float xi, float gi, float a, float b, float* dxi, double* acc_a,
                          double* acc_b) {
  const double gd = gi;
  *acc_a += gd * static_cast<double>(relu_bf(-xi));
  *acc_b += gd * static_cast<double>(relu_bf(xi));
  *dxi = dx_bf(xi, gi, a, b);
}

void backward_uniform(const float* x, const float* g, float* dx, size_t n,
                      float a, float b, double* sums) {
  double la[kLanes] = {0}, lb[kLanes] = {0};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) backward_elem(x[i + l], g[i + l], a, b, &dx[i + l], &la[l], &lb[l]);
  for (size_t l = 0; i < n; ++i, ++l) backward_elem(x[i], g[i], a, b, &dx[i], &la[l], &lb[l]);
  sums[0] = fold_lanes(la);
  sums[1] = fold_lanes(lb);
}

void forward_rows(const float* x, float* y, size_t n, size_t rows, const Coeffs* co, size_t c0,
                  size_t channels) {
  for_each_row(rows, c0, channels, [&](size_t r, size_t c) { forward_uniform(x + r * n, y + r * n, n, co[c].a, co[c].b); });
}

void backward_rows(const float* x, const float* g, float* dx, size_t n, size_t rows, const Coeffs* co,
                   size_t c0, size_t channels, double* partial) {
  for_each_row(rows, c0, channels, [&](size_t r, size_t c) {
    backward_uniform(x + r * n, g + r * n, dx + r * n, n, co[c].a, co[c].b, partial + 2 * r);
  });
}

void backward_tile(const float* x, const float* g, float* dx, size_t inner, size_t nch, size_t rows,
                   size_t stride, const Coeffs* co, double* state, double* sums) {
  for (size_t j = 0; j < 2 * kLanes * nch; ++j) state[j] = 0.0;  // the first row starts the lanes at +0
  for (size_t r = 0, p = 0; r < rows; ++r, p = (p + inner) % kLanes)
    for (size_t k = 0; k < nch; ++k) {
      double* la = state + 2 * kLanes * k;
      double* lb = la + kLanes;
      const size_t o = r * stride + k * inner;
      for (size_t t = 0, l = p; t < inner; ++t, l = (l + 1) % kLanes)
        backward_elem(x[o + t], g[o + t], co[k].a, co[k].b, &dx[o + t], &la[l], &lb[l]);
    }
  for (size_t k = 0; k < nch; ++k) {
    sums[2 * k] = fold_lanes(state + 2 * kLanes * k);
    sums[2 * k + 1] = fold_lanes(state + 2 * kLanes * k + kLanes);
  }
}

void backward_varying(const float* x, const float* g, float* dx, size_t n, size_t runs, size_t run_step,
                      size_t rows, size_t stride, const float* pa, const float* pb, double* acc_a,
                      double* acc_b, bool /*from_memory*/, bool fresh) {
  if (fresh)
    for (size_t m = 0; m < runs; ++m)
      for (size_t i = 0; i < n; ++i) acc_a[m * run_step + i] = acc_b[m * run_step + i] = 0.0;
  for (size_t r = 0; r < rows; ++r)
    for (size_t m = 0; m < runs; ++m) {
      const size_t j = m * run_step, o = r * stride + j;
      for (size_t i = 0; i < n; ++i)
        backward_elem(x[o + i], g[o + i], pa[j + i], pb[j + i], &dx[o + i], &acc_a[j + i], &acc_b[j + i]);
    }
}

}  // namespace

const CpuKernels kScalarKernels = {"scalar",      forward_uniform, forward_varying, forward_rows, backward_uniform,
                                   backward_rows, backward_tile,   backward_varying};

}  // namespace arelu
