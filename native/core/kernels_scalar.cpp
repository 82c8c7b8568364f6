// Portable scalar kernels: the reference math applied element by element.
// Compiled with no ISA flags; the only path on non-x86 builds.
#include "arelu_math.h"
#include "cpu_kernels.h"

namespace arelu {
namespace {

void forward_uniform(const float* x, float* y, size_t n, float a, float b) {
  for (size_t i = 0; i < n; ++i) y[i] = forward_elem(x[i], a, b);
}

void forward_varying(const float* x, float* y, size_t n, const float* pa,
                     const float* pb) {
  for (size_t i = 0; i < n; ++i) y[i] = forward_elem(x[i], pa[i], pb[i]);
}

void backward_uniform(const float* x, const float* g, float* dx, size_t n,
                      float a, float b, double* sums) {
  double la[kLanes] = {0}, lb[kLanes] = {0};
  for (size_t i = 0; i < n; ++i) {
    const float xi = x[i], gi = g[i];
    la[i % kLanes] += term_alpha(xi, gi);
    lb[i % kLanes] += term_beta(xi, gi);
    dx[i] = backward_dx(xi, gi, a, b);
  }
  sums[0] = fold_lanes(la);
  sums[1] = fold_lanes(lb);
}

void backward_varying(const float* x, const float* g, float* dx, size_t n,
                      const float* pa, const float* pb, double* acc_a,
                      double* acc_b) {
  for (size_t i = 0; i < n; ++i) {
    const float xi = x[i], gi = g[i];
    acc_a[i] += term_alpha(xi, gi);
    acc_b[i] += term_beta(xi, gi);
    dx[i] = backward_dx(xi, gi, pa[i], pb[i]);
  }
}

}  // namespace

const CpuKernels kScalarKernels = {"scalar", forward_uniform, forward_varying,
                                   backward_uniform, backward_varying};

}  // namespace arelu
