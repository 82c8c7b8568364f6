// A/B microbenchmark of one ISA's leaf kernels (issue 11): the kernels of
// the working tree ("new") against those of another git revision ("old"),
// both built by run.sh with the project's flags, timed in interleaved
// rounds on the same buffers, with memcpy of the same bytes as the copy
// baseline. Prints the median and minimum per call over the rounds; on a
// shared machine the minimum is the steadier estimate of the kernel's cost.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "cpu_kernels.h"

extern "C" const arelu::CpuKernels* ab_old();
extern "C" const arelu::CpuKernels* ab_new();

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
  const int rounds = 31;
  for (int ai = 1; ai < argc; ++ai) {
    const size_t n = std::strtoull(argv[ai], nullptr, 10);
    const int reps = static_cast<int>(4000000 / n + 3);
    std::vector<float> x(n), g(n), dx(n), y(n);
    std::mt19937 rng(1);
    std::normal_distribution<float> d;
    for (size_t i = 0; i < n; ++i) { x[i] = d(rng); g[i] = d(rng); }
    const arelu::CpuKernels* ks[2] = {ab_old(), ab_new()};
    std::vector<double> t[5];
    double s[2];
    // Pieces of 16K elements, as the driver (arelu_cpu.cpp) cuts them.
    for (int r = 0; r < rounds; ++r)
      for (int v = 0; v < 5; ++v) {
        const double t0 = now();
        for (int k = 0; k < reps; ++k)
          for (size_t o = 0; o < n; o += 16384) {
            const size_t len = std::min<size_t>(16384, n - o);
            if (v == 0) std::memcpy(y.data() + o, x.data() + o, len * 4);
            else if (v < 3) ks[v - 1]->backward_uniform(x.data() + o, g.data() + o, dx.data() + o, len, 0.5f, 1.8f, s);
            else ks[v - 3]->forward_uniform(x.data() + o, y.data() + o, len, 0.5f, 1.8f);
          }
        t[v].push_back((now() - t0) / reps);
      }
    const char* name[5] = {"memcpy", "backward old", "backward new", "forward old", "forward new"};
    for (int v = 0; v < 5; ++v) {
      std::sort(t[v].begin(), t[v].end());
      const double scale = v == 0 ? 1.0 : v < 3 ? 1.5 : 1.0;
      std::printf("n=%-8zu %-13s median %9.2f us  min %9.2f us  min/(%.1f x memcpy min) %.2f\n", n, name[v],
                  t[v][rounds / 2] * 1e6, t[v][0] * 1e6, scale, t[v][0] / (scale * t[0][0]));
    }
  }
  return 0;
}
