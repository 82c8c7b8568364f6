// Times one layout's cpu_backward (or cpu_forward) in a loop on one thread,
// for profiling the core alone: built and run under perf by
// core-profile.sh.
//   core-loop CORE.so N C INNER REPS [forward]   (C = 1: scalar parameters)
#include <dlfcn.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include "arelu_cpu.h"
using Bwd = void (*)(const float*, const float*, float*, const arelu::Layout&, const float*, const float*, double*, double*);
using Fwd = void (*)(const float*, float*, const arelu::Layout&, const float*, const float*);
using Thr = void (*)(int);
int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: core-loop CORE.so N C INNER REPS [forward]\n");
    return 2;
  }
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  Bwd b = (Bwd)dlsym(h, "_ZN5arelu12cpu_backwardEPKfS1_PfRKNS_6LayoutES1_S1_PdS6_");
  Fwd f = (Fwd)dlsym(h, "_ZN5arelu11cpu_forwardEPKfPfRKNS_6LayoutES1_S1_");
  Thr th = (Thr)dlsym(h, "_ZN5arelu15cpu_set_threadsEi");
  if (!b || !f || !th) { fprintf(stderr, "dlsym failed\n"); return 1; }
  th(1);
  const size_t n = strtoull(argv[2], 0, 10), C = strtoull(argv[3], 0, 10), inner = strtoull(argv[4], 0, 10);
  const int reps = atoi(argv[5]);
  const bool fwd = argc > 6;
  std::vector<float> x(n), g(n), dx(n), al(C, 0.4f), be(C, 1.2f);
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  for (size_t i = 0; i < n; ++i) x[i] = d(rng), g[i] = d(rng);
  std::vector<double> da(C), db(C);
  const arelu::Layout l{n, C, inner};
  for (int k = 0; k < 3; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int q = 0; q < reps; ++q)
      fwd ? f(x.data(), dx.data(), l, al.data(), be.data())
          : b(x.data(), g.data(), dx.data(), l, al.data(), be.data(), da.data(), db.data());
    printf("%s n=%zu C=%zu inner=%zu: %.3f us per call\n", fwd ? "forward" : "backward", n, C, inner,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps * 1e6);
  }
}
