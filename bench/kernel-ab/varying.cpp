// Period mode against the uniform kernel (issue 11): the working tree's
// AVX2 backward_varying (per-channel parameters, small inner: NHWC, tfjs's
// channels-last) on `slots`-long super-rows, against backward_uniform on
// the same n elements in 16K pieces as the driver cuts them, in
// interleaved rounds. Prints medians and the ratio varying / uniform.
// Build and run with bench/kernel-ab/varying.sh (needs AVX2+FMA).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cpu_kernels.h"

namespace arelu {
extern const CpuKernels kAvx2Kernels;
}

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
  const arelu::CpuKernels& k = arelu::kAvx2Kernels;
  const size_t slots = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256;
  for (int ai = 2; ai < argc; ++ai) {
    const size_t rows = std::strtoull(argv[ai], nullptr, 10) / slots, n = rows * slots;
    std::vector<float> x(n), g(n), dx(n), pa(slots, 0.5f), pb(slots, 1.8f);
    std::vector<double> acc(2 * slots);
    std::mt19937 rng(1);
    std::normal_distribution<float> d;
    for (size_t i = 0; i < n; ++i) x[i] = d(rng), g[i] = d(rng);
    std::vector<double> t[2];
    double s[2];
    const int reps = static_cast<int>(4000000 / n + 3);
    for (int r = 0; r < 31; ++r)
      for (int v = 0; v < 2; ++v) {
        const double t0 = now();
        for (int q = 0; q < reps; ++q) {
          if (v == 0) {
            for (size_t o = 0; o < n; o += 16384)
              k.backward_uniform(x.data() + o, g.data() + o, dx.data() + o, std::min<size_t>(16384, n - o), 0.5f, 1.8f, s);
          } else {
            std::fill(acc.begin(), acc.end(), 0.0);
            k.backward_varying(x.data(), g.data(), dx.data(), slots, 1, 0, rows, slots, pa.data(), pb.data(), acc.data(),
                               acc.data() + slots, n >= (size_t(1) << 20), false);
          }
        }
        t[v].push_back((now() - t0) / reps);
      }
    for (auto& v : t) std::sort(v.begin(), v.end());
    std::printf("n=%zu (%zu slots): uniform %.2f us, varying %.2f us, varying / uniform %.2f\n", n, slots,
                t[0][15] * 1e6, t[1][15] * 1e6, t[1][15] / t[0][15]);
  }
  return 0;
}
